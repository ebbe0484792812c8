//! The `amt` command line: the stage graph, planning, the runner, configuration and commands.

pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod datasets;
pub mod demo;
pub mod evaluate;
pub mod graph;
pub mod noop;
pub mod pianoroll;
pub mod plan;
pub mod plot;
pub mod progress;
pub mod runner;
pub mod train;
