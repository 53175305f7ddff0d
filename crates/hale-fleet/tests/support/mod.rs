//! Real services the fleet tests run against.
pub mod redis_server;
