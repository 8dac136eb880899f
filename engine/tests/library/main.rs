//! kql-engine used as a library, from outside the crate. One test binary for all of it: each
//! binary links DataFusion and delta-rs whole (about 300 MB in a debug build), and CI's disk is
//! not unlimited.

mod catalog;
mod embedding;
mod files;
