//! Where each kind of file lives in the blob store. Keys are built here only, from ids and names
//! that were validated before, never from raw request text.

use uuid::Uuid;

pub fn input(site_id: Uuid, work_order_id: Uuid, input_id: Uuid, extension: &str) -> String {
    format!("sites/{site_id}/work-orders/{work_order_id}/inputs/{input_id}.{extension}")
}

/// An example photo of a task group of an application version (the group's index in the
/// version, the photo's index in the group: names could hold characters keys do not allow).
pub fn example(
    site_id: Uuid,
    version_id: Uuid,
    group_index: usize,
    example_index: usize,
    file: &str,
) -> String {
    let extension = file
        .rsplit('.')
        .next()
        .filter(|e| e.len() <= 5 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("bin")
        .to_ascii_lowercase();
    format!("sites/{site_id}/app-versions/{version_id}/examples/{group_index}-{example_index}.{extension}")
}
