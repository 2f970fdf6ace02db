//! The simulated market (work in progress).

mod error;
mod instruments;
mod noise;
mod prices;
mod sessions;
mod bar_spec;
mod history;
mod bars;
