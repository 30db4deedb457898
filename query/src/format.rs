//! Result encodings: the JSON document of API.md, NDJSON, CSV, the Arrow IPC
//! stream and Parquet, plus the pretty table of the CLI.
//!
//! A result is at most the row limit (it is collected first so that a
//! too-large result is refused with 413 before any byte is sent); encoding
//! is streamed batch by batch, so the encoded copy never sits in memory
//! whole — except Parquet, whose footer needs the whole file.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::error::ArrowError;
use arrow::ipc::writer::StreamWriter;
use arrow::json::writer::{EncoderOptions, LineDelimited, WriterBuilder, make_encoder};
use axum::body::Bytes;
use deltalake::datafusion::parquet::arrow::ArrowWriter;
use futures::Stream;
use serde_json::json;

use crate::engine::QueryOutput;

/// How `/v1/query` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// `{"columns", "rows", "row_count", "truncated", "elapsed_ms"}`.
    #[default]
    Json,
    /// One JSON object per row and line.
    Ndjson,
    /// RFC 4180 with a header line.
    Csv,
    /// Arrow IPC stream format.
    Arrow,
    /// One Parquet file.
    Parquet,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Json,
        Format::Ndjson,
        Format::Csv,
        Format::Arrow,
        Format::Parquet,
    ];

    pub fn parse(s: &str) -> Option<Format> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
            Format::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// The encoded result as a stream of chunks (one per record batch).
pub(crate) fn stream(
    output: Arc<QueryOutput>,
    format: Format,
    elapsed_ms: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let encoder = Encoder::new(format, elapsed_ms);
    futures::stream::unfold(
        (encoder, output, 0usize),
        |(mut encoder, output, step)| async move {
            let batches = output.batches.len();
            let chunk = if step == 0 {
                encoder.begin(&output)
            } else if step <= batches {
                encoder.batch(&output.batches[step - 1])
            } else if step == batches + 1 {
                encoder.end(&output)
            } else {
                return None;
            };
            let item = chunk.map(Bytes::from).map_err(|e| {
                tracing::error!(error = %e, "encoding a query result");
                std::io::Error::other(e.to_string())
            });
            // Stop after an error: the client sees a truncated body.
            let next = if item.is_ok() { step + 1 } else { batches + 2 };
            Some((item, (encoder, output, next)))
        },
    )
}

/// The whole encoded result (tests, the CLI).
pub fn encode(
    output: &QueryOutput,
    format: Format,
    elapsed_ms: u64,
) -> Result<Vec<u8>, ArrowError> {
    let mut encoder = Encoder::new(format, elapsed_ms);
    let mut out = encoder.begin(output)?;
    for b in &output.batches {
        out.extend(encoder.batch(b)?);
    }
    out.extend(encoder.end(output)?);
    Ok(out)
}

/// The result as a text table (`revstream sql`).
pub fn pretty(output: &QueryOutput) -> Result<String, ArrowError> {
    Ok(arrow::util::pretty::pretty_format_batches_with_schema(
        output.schema.clone(),
        &output.batches,
    )?
    .to_string())
}

enum Encoder {
    Json { elapsed_ms: u64, rows: usize },
    Ndjson,
    Csv { header_written: bool },
    Arrow(Option<StreamWriter<Vec<u8>>>),
    Parquet(Option<ArrowWriter<Vec<u8>>>),
}

fn parquet_error(e: impl std::fmt::Display) -> ArrowError {
    ArrowError::ExternalError(e.to_string().into())
}

impl Encoder {
    fn new(format: Format, elapsed_ms: u64) -> Self {
        match format {
            Format::Json => Encoder::Json {
                elapsed_ms,
                rows: 0,
            },
            Format::Ndjson => Encoder::Ndjson,
            Format::Csv => Encoder::Csv {
                header_written: false,
            },
            Format::Arrow => Encoder::Arrow(None),
            Format::Parquet => Encoder::Parquet(None),
        }
    }

    fn begin(&mut self, output: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
        match self {
            Encoder::Json { .. } => {
                let columns: Vec<_> = output
                    .schema
                    .fields()
                    .iter()
                    .map(|f| json!({"name": f.name(), "type": f.data_type().to_string()}))
                    .collect();
                let mut out = b"{\"columns\":".to_vec();
                serde_json::to_writer(&mut out, &columns)
                    .map_err(|e| ArrowError::JsonError(e.to_string()))?;
                out.extend_from_slice(b",\"rows\":[");
                Ok(out)
            }
            Encoder::Ndjson => Ok(Vec::new()),
            Encoder::Csv { header_written } => {
                *header_written = true;
                Ok(csv_header(&output.schema))
            }
            Encoder::Arrow(writer) => {
                let mut w = StreamWriter::try_new(Vec::new(), &output.schema)?;
                let header = std::mem::take(w.get_mut());
                *writer = Some(w);
                Ok(header)
            }
            Encoder::Parquet(writer) => {
                *writer = Some(
                    ArrowWriter::try_new(Vec::new(), output.schema.clone(), None)
                        .map_err(parquet_error)?,
                );
                Ok(Vec::new())
            }
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, ArrowError> {
        match self {
            Encoder::Json { rows, .. } => {
                let mut out = Vec::new();
                json_rows(batch, *rows > 0, &mut out)?;
                *rows += batch.num_rows();
                Ok(out)
            }
            Encoder::Ndjson => {
                let mut w = WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(Vec::new());
                w.write(batch)?;
                w.finish()?;
                Ok(w.into_inner())
            }
            Encoder::Csv { .. } => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(Vec::new());
                w.write(batch)?;
                Ok(w.into_inner())
            }
            Encoder::Arrow(writer) => match writer {
                Some(w) => {
                    w.write(batch)?;
                    Ok(std::mem::take(w.get_mut()))
                }
                None => Err(ArrowError::InvalidArgumentError(
                    "arrow writer not started".into(),
                )),
            },
            Encoder::Parquet(writer) => match writer {
                Some(w) => {
                    w.write(batch).map_err(parquet_error)?;
                    Ok(Vec::new())
                }
                None => Err(ArrowError::InvalidArgumentError(
                    "parquet writer not started".into(),
                )),
            },
        }
    }

    fn end(&mut self, output: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
        match self {
            Encoder::Json { elapsed_ms, .. } => Ok(format!(
                "],\"row_count\":{},\"truncated\":{},\"elapsed_ms\":{}}}",
                output.row_count, output.truncated, elapsed_ms
            )
            .into_bytes()),
            Encoder::Ndjson | Encoder::Csv { .. } => Ok(Vec::new()),
            Encoder::Arrow(writer) => match writer.take() {
                Some(mut w) => {
                    w.finish()?;
                    w.into_inner()
                }
                None => Ok(Vec::new()),
            },
            Encoder::Parquet(writer) => match writer.take() {
                Some(w) => w.into_inner().map_err(parquet_error),
                None => Ok(Vec::new()),
            },
        }
    }
}

/// Rows as JSON arrays (`[v1, v2, …]`), comma-separated; column order is
/// kept even when two columns share a name.
fn json_rows(
    batch: &RecordBatch,
    leading_comma: bool,
    out: &mut Vec<u8>,
) -> Result<(), ArrowError> {
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let schema = batch.schema();
    let mut encoders = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| make_encoder(field, array.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        if leading_comma || row > 0 {
            out.push(b',');
        }
        out.push(b'[');
        for (i, encoder) in encoders.iter_mut().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if encoder.is_null(row) {
                out.extend_from_slice(b"null");
            } else {
                encoder.encode(row, out);
            }
        }
        out.push(b']');
    }
    Ok(())
}

fn csv_header(schema: &Schema) -> Vec<u8> {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name();
            if name.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", name.replace('"', "\"\""))
            } else {
                name.clone()
            }
        })
        .collect();
    let mut line = names.join(",").into_bytes();
    line.push(b'\n');
    line
}
