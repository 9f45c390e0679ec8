//! The GSL API client: typed requests and responses over one shared HTTP client.

pub mod auth;
pub mod client;
pub mod clock;
pub mod error;
pub mod net;
pub mod paging;
pub mod types;

pub use client::{Call, Client};
pub use error::{ApiFault, GslError};
pub use types::CardRef;
