//! The OpenTelemetry variables (ARCHITECTURE §10). They are the specification's own names, and
//! the SDK reads most of them itself (`telemetry::traces`): they are declared here so that
//! `serve --help` and `.env.example` list them, and checked here because the SDK ignores a bad
//! value with a warning (a typo in the sampler would sample everything, a malformed header list
//! would send no credentials), where a start-up error naming the variable is what an operator
//! needs.

use super::Secret;

/// `service.name` when neither `OTEL_SERVICE_NAME` nor `OTEL_RESOURCE_ATTRIBUTES` names one.
pub const DEFAULT_SERVICE_NAME: &str = "clerk-graphql";

#[derive(Debug, Clone, clap::Args)]
pub struct TracesConfig {
    /// OTLP/HTTP collector base URL (e.g. http://localhost:4318): traces go to its `/v1/traces`.
    /// Unset (with the next one): no traces exported.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_parser = otlp_url)]
    pub endpoint: Option<String>,
    /// Full URL traces are posted to, instead of `{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_parser = otlp_url)]
    pub traces_endpoint: Option<String>,
    /// `http/protobuf` or `http/json` [default: http/protobuf].
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", value_parser = protocol)]
    pub protocol: Option<String>,
    /// Headers sent to the collector, `key=value,key2=value2` (e.g. its API key; never logged).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_HEADERS", value_parser = headers)]
    pub headers: Option<Secret>,
    /// `service.name` of the traces [default: clerk-graphql, or the one OTEL_RESOURCE_ATTRIBUTES
    /// names].
    #[arg(long, env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// More resource attributes, `key=value,…` (e.g. `deployment.environment.name=prod`).
    #[arg(long, env = "OTEL_RESOURCE_ATTRIBUTES", value_parser = key_values)]
    pub resource_attributes: Option<String>,
    /// `parentbased_always_on`, `parentbased_traceidratio`, `parentbased_always_off`,
    /// `always_on`, `always_off` or `traceidratio` [default: parentbased_always_on].
    #[arg(long, env = "OTEL_TRACES_SAMPLER", value_parser = sampler)]
    pub sampler: Option<TraceSampler>,
    /// The ratio of the `*traceidratio` samplers, from 0 to 1 [default: 1].
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_parser = ratio)]
    pub sampler_arg: Option<f64>,
    /// Put each request's GraphQL document on its `graphql.parse` span (development only: a
    /// document can hold literal personal data).
    #[arg(long, env = "GRAPHQL_TRACE_DOCUMENT", default_value = "false",
        action = clap::ArgAction::Set, value_parser = super::values::boolean)]
    pub graphql_document: bool,
}

impl TracesConfig {
    /// Traces are exported only to a configured collector: without one, no OpenTelemetry layer
    /// is installed at all.
    pub fn exporting(&self) -> bool {
        self.endpoint.is_some() || self.traces_endpoint.is_some()
    }

    /// `OTEL_SERVICE_NAME`, else `service.name` of `OTEL_RESOURCE_ATTRIBUTES` (the
    /// specification's order), else [`DEFAULT_SERVICE_NAME`].
    pub fn service_name(&self) -> String {
        let from_attributes = self.resource_attributes.as_deref().and_then(|attributes| {
            attributes.split(',').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                (key.trim() == "service.name").then(|| value.trim().to_string())
            })
        });
        self.service_name
            .clone()
            .or(from_attributes)
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_string())
    }

    /// The rules spanning several variables.
    pub(super) fn check(&self, production: bool, problems: &mut Vec<String>) {
        if production && self.graphql_document {
            problems.push(
                "GRAPHQL_TRACE_DOCUMENT: documents are never exported with APP_ENV=production \
                 (a document can hold literal personal data)"
                    .into(),
            );
        }
        let ratio_sampler = self.sampler.is_some_and(TraceSampler::takes_ratio);
        if self.sampler_arg.is_some() && !ratio_sampler {
            problems.push(
                "OTEL_TRACES_SAMPLER_ARG: only the `traceidratio` samplers take a ratio; set \
                 OTEL_TRACES_SAMPLER=parentbased_traceidratio"
                    .into(),
            );
        }
    }
}

fn otlp_url(v: &str) -> Result<String, String> {
    super::values::http_url(v)
}

fn protocol(v: &str) -> Result<String, &'static str> {
    match v {
        "http/protobuf" | "http/json" => Ok(v.to_string()),
        "grpc" => Err("grpc is not built in: use http/protobuf (the collector's port 4318)"),
        _ => Err("expected http/protobuf or http/json"),
    }
}

/// `OTEL_TRACES_SAMPLER`: the specification's built-in samplers (`telemetry::traces` builds
/// the SDK's from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceSampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio,
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio,
}

impl TraceSampler {
    /// Whether `OTEL_TRACES_SAMPLER_ARG` (a ratio) applies to it.
    pub fn takes_ratio(self) -> bool {
        matches!(self, Self::TraceIdRatio | Self::ParentBasedTraceIdRatio)
    }
}

fn sampler(v: &str) -> Result<TraceSampler, &'static str> {
    match v {
        "always_on" => Ok(TraceSampler::AlwaysOn),
        "always_off" => Ok(TraceSampler::AlwaysOff),
        "traceidratio" => Ok(TraceSampler::TraceIdRatio),
        "parentbased_always_on" => Ok(TraceSampler::ParentBasedAlwaysOn),
        "parentbased_always_off" => Ok(TraceSampler::ParentBasedAlwaysOff),
        "parentbased_traceidratio" => Ok(TraceSampler::ParentBasedTraceIdRatio),
        _ => Err(
            "expected parentbased_always_on, parentbased_traceidratio, parentbased_always_off, \
             always_on, always_off or traceidratio",
        ),
    }
}

fn ratio(v: &str) -> Result<f64, &'static str> {
    match v.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err("expected a number from 0 to 1"),
    }
}

/// `key=value` pairs separated by commas (the W3C Baggage format the specification uses): every
/// pair has a non-empty key and an `=`.
fn key_values(v: &str) -> Result<String, &'static str> {
    let well_formed = v.split(',').all(|pair| {
        pair.split_once('=')
            .is_some_and(|(key, _)| !key.trim().is_empty())
    });
    if well_formed {
        Ok(v.to_string())
    } else {
        Err("expected key=value pairs separated by commas")
    }
}

/// As [`key_values`], and a secret: the message never echoes the value.
fn headers(v: &str) -> Result<Secret, &'static str> {
    key_values(v).map(Secret::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert!(protocol("grpc").is_err());
        assert!(protocol("http/json").is_ok());
        assert_eq!(
            sampler("parentbased_traceidratio"),
            Ok(TraceSampler::ParentBasedTraceIdRatio)
        );
        assert!(sampler("ratio").is_err());
        assert_eq!(ratio("0.25"), Ok(0.25));
        assert!(ratio("1.5").is_err());
        assert!(key_values("a=1,b.c=x=y").is_ok());
        assert!(key_values("a=1,b").is_err());
        assert!(key_values("=1").is_err());
    }

    #[test]
    fn the_service_name_follows_the_specification_order() {
        let mut config = TracesConfig {
            endpoint: None,
            traces_endpoint: None,
            protocol: None,
            headers: None,
            service_name: None,
            resource_attributes: None,
            sampler: None,
            sampler_arg: None,
            graphql_document: false,
        };
        assert_eq!(config.service_name(), "clerk-graphql");
        config.resource_attributes = Some("team=core, service.name = api ".into());
        assert_eq!(config.service_name(), "api");
        config.service_name = Some("gateway".into());
        assert_eq!(config.service_name(), "gateway");
    }
}
