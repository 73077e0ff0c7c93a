//! CreateTopics and DeleteTopics.

use std::collections::{BTreeMap, HashMap};

use strikemq_codec::messages::create_topics_request::CreatableTopic;
use strikemq_codec::messages::create_topics_response::CreatableTopicResult;
use strikemq_codec::messages::delete_topics_response::DeletableTopicResult;
use strikemq_codec::messages::{
    CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use strikemq_codec::ResponseError;
use strikemq_codec::StrBytes;
use strikemq_storage::validate_topic_name;

use crate::errors::{code, storage_error, KafkaError};
use crate::Broker;

/// CreateTopics v5 returns the partition count, replication factor and configs.
const DETAILS_VERSION: i16 = 5;
/// DeleteTopics v6 names topics by name or id.
const DELETE_BY_ID_VERSION: i16 = 6;

/// Kafka's controller takes at most this many records from one request (its
/// `MAX_RECORDS_PER_USER_OP`): a topic is one record, each partition one, each config one.
pub(crate) const MAX_RECORDS_PER_REQUEST: i64 = 10_000;

pub(crate) const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// The partitions a CreateTopics entry asks for, as far as they can be told before validating it.
fn requested_partitions(broker: &Broker, t: &CreatableTopic) -> i64 {
    if !t.assignments.is_empty() {
        t.assignments.len() as i64
    } else if t.num_partitions == -1 {
        i64::from(broker.config().default_partitions)
    } else {
        i64::from(t.num_partitions.max(0))
    }
}

/// What CreateTopics made (or, with validate_only, would make).
struct Created {
    partitions: i32,
    id: Option<strikemq_storage::Uuid>,
    configs: BTreeMap<String, String>,
}

pub(crate) fn create(
    broker: &Broker,
    req: &CreateTopicsRequest,
    version: i16,
) -> CreateTopicsResponse {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.as_str()).or_default() += 1;
    }
    // Like Kafka 4, a request that would make more than 10,000 partitions, or more than 10,000
    // metadata records in all, is refused whole: one request must not make the broker create
    // millions of files.
    let partitions: i64 = req
        .topics
        .iter()
        .map(|t| requested_partitions(broker, t))
        .sum();
    let records: i64 = req
        .topics
        .iter()
        .map(|t| 1 + requested_partitions(broker, t) + t.configs.len() as i64)
        .sum();
    let too_large = if partitions > MAX_RECORDS_PER_REQUEST {
        Some(TOO_MANY_PARTITIONS)
    } else if records > MAX_RECORDS_PER_REQUEST {
        Some("Unable to perform excessively large batch operation.")
    } else {
        None
    };
    // As Kafka's controller: a name given more than once is answered once, after the others.
    let duplicated = |t: &&CreatableTopic| seen.get(t.name.0.as_str()).copied().unwrap_or(0) > 1;
    let mut reported = std::collections::HashSet::new();
    let duplicates: Vec<&CreatableTopic> = req
        .topics
        .iter()
        .filter(duplicated)
        .filter(|t| reported.insert(t.name.0.as_str()))
        .collect();
    let topics = req
        .topics
        .iter()
        .filter(|t| !duplicated(t))
        .map(|t| (t, false))
        .chain(duplicates.into_iter().map(|t| (t, true)))
        .map(|(t, duplicate)| {
            let result = CreatableTopicResult::default().with_name(t.name.clone());
            let outcome = if duplicate {
                Err(KafkaError::new(
                    ResponseError::InvalidRequest,
                    "Duplicate topic name.".to_owned(),
                ))
            } else if let Some(message) = too_large {
                Err(KafkaError::new(
                    ResponseError::PolicyViolation,
                    message.to_owned(),
                ))
            } else {
                create_one(broker, t, req.validate_only)
            };
            match outcome {
                Ok(Created {
                    partitions,
                    id,
                    configs,
                }) => {
                    // Kafka names even a validate-only topic with a fresh id.
                    let result = result
                        .with_error_message(None)
                        .with_topic_id(id.unwrap_or_else(strikemq_storage::Uuid::new_v4));
                    if version >= DETAILS_VERSION {
                        result
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                            .with_configs(Some(created_configs(broker, &configs)))
                    } else {
                        result
                    }
                }
                Err(e) => {
                    let result = result
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_string(e.message())));
                    if version >= DETAILS_VERSION {
                        result.with_num_partitions(-1).with_replication_factor(-1)
                    } else {
                        result
                    }
                }
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create_one(
    broker: &Broker,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<Created, KafkaError> {
    let name = t.name.0.as_str();
    validate_topic_name(name).map_err(|e| KafkaError::new(storage_error(&e), e.to_string()))?;
    if broker.store().topic(name).is_some() {
        return Err(KafkaError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    let partitions = if t.assignments.is_empty() {
        let partitions = match t.num_partitions {
            -1 => broker.config().default_partitions,
            n if n >= 1 => n,
            _ => {
                return Err(KafkaError::new(
                    ResponseError::InvalidPartitions,
                    "Number of partitions was set to an invalid non-positive value.".to_owned(),
                ))
            }
        };
        match t.replication_factor {
            -1 | 1 => {}
            n if n < 1 => {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicationFactor,
                    format!("Replication factor must be larger than 0, or -1 to use the default value (was {n})."),
                ))
            }
            n => {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicationFactor,
                    format!("Unable to replicate the partition {n} time(s): The target replication factor of {n} cannot be reached because only 1 broker(s) are registered or some brokers have all their log directories cordoned."),
                ))
            }
        }
        partitions
    } else {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(KafkaError::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".to_owned(),
            ));
        }
        let node = broker.config().node_id;
        for (i, a) in t.assignments.iter().enumerate() {
            if a.partition_index != i as i32 {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicaAssignment,
                    "Partitions should be 0-based and consecutive.".to_owned(),
                ));
            }
            if a.broker_ids.len() != 1 || a.broker_ids[0].0 != node {
                return Err(KafkaError::new(
                    ResponseError::InvalidReplicaAssignment,
                    format!(
                        "Replica assignment for partition {i} names brokers other than {node}."
                    ),
                ));
            }
        }
        t.assignments.len() as i32
    };
    let configs: BTreeMap<String, String> = t
        .configs
        .iter()
        .filter_map(|c| {
            c.value
                .as_ref()
                .map(|v| (c.name.as_str().to_owned(), v.as_str().to_owned()))
        })
        .collect();
    let configs = crate::configs::validate_all(&configs)
        .map_err(|m| KafkaError::new(ResponseError::InvalidConfig, m))?;
    if validate_only {
        return Ok(Created {
            partitions,
            id: None,
            configs,
        });
    }
    let topic = broker.create_topic(name, partitions, configs.clone())?;
    Ok(Created {
        partitions,
        id: Some(topic.id()),
        configs,
    })
}

pub(crate) fn delete(
    broker: &Broker,
    req: &DeleteTopicsRequest,
    version: i16,
) -> DeleteTopicsResponse {
    let store = broker.store();
    // (name, topic id) pairs as the client named them.
    let wanted: Vec<(Option<TopicName>, strikemq_storage::Uuid)> =
        if version >= DELETE_BY_ID_VERSION {
            req.topics
                .iter()
                .map(|t| (t.name.clone(), t.topic_id))
                .collect()
        } else {
            req.topic_names
                .iter()
                .map(|n| (Some(n.clone()), strikemq_storage::Uuid::nil()))
                .collect()
        };
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let topic = match &name {
                Some(n) => store.topic(n.0.as_str()),
                None => store.topic_by_id(id),
            };
            let result = DeletableTopicResult::default();
            let Some(topic) = topic else {
                let e = if name.is_none() {
                    ResponseError::UnknownTopicId
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                let message = if e == ResponseError::UnknownTopicId {
                    "This server does not host this topic ID."
                } else {
                    "This server does not host this topic-partition."
                };
                return result
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(code(e))
                    .with_error_message(Some(StrBytes::from_static_str(message)));
            };
            let result = result
                .with_name(Some(TopicName(StrBytes::from_string(
                    topic.name().to_owned(),
                ))))
                .with_topic_id(topic.id());
            match broker.delete_topic(topic.name()) {
                Ok(_) => result,
                Err(r) => result
                    .with_error_code(r.code())
                    .with_error_message(Some(StrBytes::from_string(r.message()))),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// The configs a created topic ends up with (CreateTopics v5+), as DescribeConfigs shows them.
fn created_configs(
    broker: &Broker,
    configs: &BTreeMap<String, String>,
) -> Vec<strikemq_codec::messages::create_topics_response::CreatableTopicConfigs> {
    use strikemq_codec::messages::create_topics_response::CreatableTopicConfigs;
    crate::configs::describe_topic_configs(broker, configs, None, false, false)
        .into_iter()
        .map(|c| {
            CreatableTopicConfigs::default()
                .with_name(c.name)
                .with_value(c.value)
                .with_config_source(c.config_source)
        })
        .collect()
}

/// The CreateTopics handler of the route table.
pub(crate) fn route_create(
    broker: &Broker,
    r: CreateTopicsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::CreateTopics(
        create(broker, &r, ctx.api_version),
    ))
}

/// The DeleteTopics handler of the route table.
pub(crate) fn route_delete(
    broker: &Broker,
    r: DeleteTopicsRequest,
    ctx: &crate::routes::RequestContext<'_>,
) -> crate::Outcome {
    ctx.respond(strikemq_codec::messages::ResponseKind::DeleteTopics(
        delete(broker, &r, ctx.api_version),
    ))
}
