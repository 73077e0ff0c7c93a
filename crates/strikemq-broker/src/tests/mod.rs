//! Request-level tests of the broker, one module per API family, with requests encoded as
//! clients encode them. Shared helpers are in `crate::testutil`.

mod configs;
mod fetch;
mod groups;
mod list_offsets;
mod metadata;
mod produce;
mod producers;
mod routing;
mod share_groups;
mod topics_admin;
mod transactions;
