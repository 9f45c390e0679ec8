//! The three ways to authenticate to GSL: AK/SK signing, a ready token, IAM password login.

pub mod aksk;
