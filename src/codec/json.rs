//! TEMPORARY STUB — replaced by the real OTLP JSON mapping.
use opentelemetry_proto::tonic::collector::{
    logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse},
    metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse},
    trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
};
#[derive(Debug, thiserror::Error)]
#[error("stub")]
pub struct JsonError;
pub fn decode_traces(_: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    Err(JsonError)
}
pub fn decode_metrics(_: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    Err(JsonError)
}
pub fn decode_logs(_: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    Err(JsonError)
}
pub fn encode_traces(_: &ExportTraceServiceRequest) -> Vec<u8> {
    vec![]
}
pub fn encode_metrics(_: &ExportMetricsServiceRequest) -> Vec<u8> {
    vec![]
}
pub fn encode_logs(_: &ExportLogsServiceRequest) -> Vec<u8> {
    vec![]
}
pub fn decode_trace_response(_: &[u8]) -> Result<ExportTraceServiceResponse, JsonError> {
    Err(JsonError)
}
pub fn decode_metrics_response(_: &[u8]) -> Result<ExportMetricsServiceResponse, JsonError> {
    Err(JsonError)
}
pub fn decode_logs_response(_: &[u8]) -> Result<ExportLogsServiceResponse, JsonError> {
    Err(JsonError)
}
