//! The protobuf encoding (server versions 201 and up, per message; see `version.rs`).

mod replies;
mod requests;
pub mod schema;

pub use replies::encode_reply;
pub use requests::decode_request;
