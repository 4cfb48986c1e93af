fn main() {
    for path in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let t = std::time::Instant::now();
        let guard = gitsync::hcl::parse(&text, "x").err().map(|e| e.to_string());
        let t_all = t.elapsed();
        let t = std::time::Instant::now();
        let ok = hcl_edit::parser::parse_body(&text).is_ok();
        println!(
            "{path}: gitsync {t_all:?} hcl-edit {:?} ({ok}) {:?}",
            t.elapsed(),
            guard.map(|g| g.chars().take(90).collect::<String>())
        );
    }
}
