//! Uploaded files, judged by what they contain: the name and the content type a browser sends
//! are chosen by the uploader and prove nothing. Pure functions over bytes; storing the bytes is
//! the job of the file store.

pub mod inspect;
pub mod store;
