//! What the fuzz targets share: ways of cutting a body, the WHATWG reference framer, the check that
//! an accumulated completion builds, and the accumulator driven as the Python binding drives it.

pub mod accumulate;
pub mod cuts;
pub mod documents;
pub mod shape;
pub mod sse_reference;
