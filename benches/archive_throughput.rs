// Local placeholder so the manifest parses until branch archbench lands; never committed.
fn main() {}
