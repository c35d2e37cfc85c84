//! `.proto` files compiled in-process with `protox` (no protoc needed);
//! imports resolve against the file's own directory.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use super::{LineIndex, Loaded, Parsed};
use crate::model::values::Operation;

pub(super) fn load(path: &Path, text: &str) -> Parsed {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut compiler = protox::Compiler::new([dir]).map_err(|e| (e.to_string(), None))?;
    compiler.include_source_info(true);
    compiler.open_file(&name).map_err(|e| {
        let range = if e.file() == Some(name.as_str()) || e.file().is_none() {
            miette::Diagnostic::labels(&e).and_then(|mut l| l.next()).map(|l| l.offset()..l.offset() + l.len())
        } else {
            None
        };
        (e.to_string(), range)
    })?;
    let pool = compiler.descriptor_pool();
    let Some(file) = pool.get_file_by_name(&name) else {
        return Ok(Loaded::default());
    };
    let lines = LineIndex::new(text);
    // Source paths → byte ranges: services are [6, s], methods [6, s, 2, m].
    let proto = file.file_descriptor_proto();
    let spans: HashMap<&[i32], Range<usize>> = proto
        .source_code_info
        .as_ref()
        .map(|info| info.location.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|l| l.path.first() == Some(&6) && matches!(l.path.len(), 2 | 4))
        .filter_map(|l| {
            let range = match l.span.as_slice() {
                [line, col, end_col] => lines.offset(*line, *col)..lines.offset(*line, *end_col),
                [line, col, end_line, end_col] => lines.offset(*line, *col)..lines.offset(*end_line, *end_col),
                _ => return None,
            };
            Some((l.path.as_slice(), range))
        })
        .collect();
    let mut loaded = Loaded::default();
    for (si, service) in file.services().enumerate() {
        let si = si as i32;
        loaded.grpc_services.push((service.full_name().to_string(), spans.get(&[6, si][..]).cloned()));
        for (mi, method) in service.methods().enumerate() {
            let operation =
                Operation::Grpc { service: service.full_name().to_string(), method: method.name().to_string() };
            loaded.operations.push((operation, spans.get(&[6, si, 2, mi as i32][..]).cloned()));
        }
    }
    Ok(loaded)
}
