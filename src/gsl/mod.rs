//! The GSL API client: typed requests and responses over one shared HTTP client.

pub mod auth;
