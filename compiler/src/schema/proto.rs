//! `.proto` files compiled in-process with `protox` (no protoc needed);
//! imports resolve against the file's own directory.

use std::path::Path;

use prost_reflect::DescriptorPool;

use super::{offset_of, Parsed};
use crate::model::values::Operation;

pub(super) fn operations(path: &Path, text: &str) -> Parsed {
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
    let pool: DescriptorPool = compiler.descriptor_pool();
    let Some(file) = pool.get_file_by_name(&name) else {
        return Ok(Vec::new());
    };
    let proto = file.file_descriptor_proto();
    let locations = proto.source_code_info.as_ref().map(|i| i.location.as_slice()).unwrap_or_default();
    let mut ops = Vec::new();
    for (si, service) in file.services().enumerate() {
        for (mi, method) in service.methods().enumerate() {
            // Source path of a method: [6 = service, si, 2 = method, mi].
            let want = [6, si as i32, 2, mi as i32];
            let range = locations.iter().find(|l| l.path == want).and_then(|l| match l.span.as_slice() {
                [line, col, end_col] => Some(
                    offset_of(text, *line as usize, *col as usize)..offset_of(text, *line as usize, *end_col as usize),
                ),
                [line, col, end_line, end_col] => Some(
                    offset_of(text, *line as usize, *col as usize)
                        ..offset_of(text, *end_line as usize, *end_col as usize),
                ),
                _ => None,
            });
            ops.push((
                Operation::Grpc { service: service.full_name().to_string(), method: method.name().to_string() },
                range,
            ));
        }
    }
    Ok(ops)
}
