//! FindCoordinator: this single broker coordinates every group and transactional id.

use strikemq_codec::messages::find_coordinator_response::Coordinator;
use strikemq_codec::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;

use crate::errors::code;
use crate::Broker;

/// FindCoordinator v4 batches keys (KIP-699).
const BATCHED_VERSION: i16 = 4;
/// Key types Kafka defines: 0 group, 1 transaction, 2 share group.
const MAX_KEY_TYPE: i8 = 2;

pub(crate) fn handle(
    broker: &Broker,
    req: &FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let cfg = broker.config();
    let host = StrBytes::from_string(cfg.advertised_host.clone());
    let valid_type = (0..=MAX_KEY_TYPE).contains(&req.key_type);
    if version >= BATCHED_VERSION {
        let coordinators = req
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                if valid_type {
                    c.with_node_id(BrokerId(cfg.node_id))
                        .with_host(host.clone())
                        .with_port(cfg.advertised_port)
                } else {
                    c.with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code(ResponseError::InvalidRequest))
                        .with_error_message(Some(StrBytes::from_static_str(
                            crate::errors::INVALID_REQUEST_MESSAGE,
                        )))
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    // v1-v3 carry a top-level message: Kafka sends the error's own text, "NONE" on success.
    if !valid_type {
        return FindCoordinatorResponse::default()
            .with_error_code(code(ResponseError::InvalidRequest))
            .with_error_message(Some(StrBytes::from_static_str(
                crate::errors::INVALID_REQUEST_MESSAGE,
            )))
            .with_node_id(BrokerId(-1))
            .with_port(-1);
    }
    FindCoordinatorResponse::default()
        .with_error_message(Some(StrBytes::from_static_str("NONE")))
        .with_node_id(BrokerId(cfg.node_id))
        .with_host(host)
        .with_port(cfg.advertised_port)
}

/// The FindCoordinator handler of the route table.
pub(crate) fn route(
    broker: &Broker,
    r: FindCoordinatorRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::FindCoordinator(
        handle(broker, &r, ctx.api_version),
    ))
}
