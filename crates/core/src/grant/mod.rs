//! One module per grant type, each read top to bottom in the order its RFC
//! section describes.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;
