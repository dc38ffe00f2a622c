//! One module per grant type, each read top to bottom in the order its RFC
//! section describes.

pub mod client_credentials;
