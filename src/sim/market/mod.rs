//! The simulated market (work in progress).

mod error;
mod instruments;
mod noise;
mod prices;
mod sessions;
