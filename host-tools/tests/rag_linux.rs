//! End to end over the real Linux 6.1 source (Debian's `linux-source-6.1`): unpack a large
//! subtree, index it, and check that labelled queries find their answers and that the
//! catalogs come out of the real headers.
//!
//! Without the tarball the test fails and names `.ci/setup`, which installs it (and which
//! `scripts/test-all.sh` runs when anything is missing).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kingly::rag::eval::{self, Labelled};
use kingly::rag::index::{self, IndexOptions};
use kingly::rag::source::DEBIAN_TARBALL;
use kingly::rag::{catalog, Mode, Retriever};

/// The subtree taken: core kernel, memory management, headers, libraries, the driver core,
/// and the documentation of the curated areas.
const SUBTREE: &[&str] = &[
    "kernel/",
    "mm/",
    "include/",
    "lib/",
    "drivers/base/",
    "Documentation/RCU/",
    "Documentation/locking/",
    "Documentation/bpf/",
    "Documentation/core-api/",
    "Documentation/driver-api/driver-model/",
    "Documentation/memory-barriers.txt",
];

/// Unpacks the subtree once into the target directory and returns its root.
fn unpack_subtree(tarball: &Path) -> PathBuf {
    let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rag-linux-6.1-subtree");
    let stamp = dest.join(".complete");
    if stamp.exists() {
        return dest;
    }
    let _ = fs::remove_dir_all(&dest);
    fs::create_dir_all(&dest).unwrap();
    let started = Instant::now();
    let file = fs::File::open(tarball).unwrap();
    let decoder = xz2::read::XzDecoder::new_multi_decoder(std::io::BufReader::with_capacity(1 << 20, file));
    let mut archive = tar::Archive::new(decoder);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        // Drop the tarball's top directory (linux-source-6.1/).
        let relative: PathBuf = path.components().skip(1).collect();
        let relative_text = relative.to_string_lossy();
        if entry.header().entry_type().is_file() && SUBTREE.iter().any(|prefix| relative_text.starts_with(prefix)) {
            let target = dest.join(&relative);
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            entry.unpack(&target).unwrap();
        }
    }
    fs::write(&stamp, "").unwrap();
    eprintln!("unpacked the subtree in {:.1} s", started.elapsed().as_secs_f64());
    dest
}

fn in_subtree(labelled: &Labelled) -> bool {
    labelled.relevant.iter().all(|path| SUBTREE.iter().any(|prefix| path.starts_with(prefix)))
}

#[test]
fn linux_subtree_end_to_end() {
    let tarball = Path::new(DEBIAN_TARBALL);
    // Installed by .ci/setup (scripts/test-all.sh runs it when anything is missing): no skip.
    assert!(tarball.exists(), "{DEBIAN_TARBALL} is missing: run .ci/setup (it installs linux-source-6.1)");
    let root = unpack_subtree(tarball);
    let index_dir = tempfile::tempdir().unwrap();
    let options = IndexOptions {
        source: Some(root.clone()),
        index_dir: index_dir.path().to_path_buf(),
        progress: false,
        history: true,
        threads: None,
    };
    let report = index::build(&options).unwrap();
    eprintln!(
        "indexed {} files, {} chunks, {} fixes in {:.1} s ({:.0} files/s)",
        report.files_indexed,
        report.chunks_added,
        report.fixes,
        report.seconds,
        report.files_per_second()
    );
    assert!(report.files_indexed > 5_000, "{report:?}");
    assert!(report.fixes > 1000, "the Debian changelog is installed with the package: {report:?}");

    let retriever = Retriever::open(index_dir.path()).unwrap();
    let queries: Vec<Labelled> =
        eval::parse_queries(eval::BUILTIN_QUERIES).unwrap().into_iter().filter(in_subtree).collect();
    let identifiers = queries.iter().filter(|q| q.kind == "ident").count();
    let concepts = queries.len() - identifiers;
    assert!(identifiers >= 30 && concepts >= 10, "{identifiers} identifiers, {concepts} concepts");
    let result = eval::evaluate(&retriever, &[("tuning", &queries)], false).unwrap();
    for quality in &result.quality {
        eprintln!("{quality:?}");
    }
    for outcome in result.outcomes.iter().filter(|o| o.rank.is_none_or(|r| r > 5)) {
        eprintln!("miss: {outcome:?}");
    }
    let recall = |system: &str, kind: &str| {
        result.quality.iter().find(|q| q.system == system && q.kind == kind).unwrap().recall_at_5
    };
    assert!(recall("bm25", "ident") >= 0.9, "identifier Recall@5 {}", recall("bm25", "ident"));
    assert!(recall("bm25", "concept") >= 0.7, "concept Recall@5 {}", recall("bm25", "concept"));
    // The default ranking reranks English questions with the model (installed by .ci/setup).
    assert!(retriever.has_model(), "{:?}", retriever.dense_unavailable);
    assert_eq!(recall("auto", "ident"), recall("bm25", "ident"), "identifiers are left to BM25");
    assert!(recall("auto", "concept") >= recall("bm25", "concept"), "reranking lost: {}", recall("auto", "concept"));

    // The helper catalog from the real UAPI header, with definitions found in kernel/.
    let helpers = catalog::bpf_helpers(&root, Some(&retriever)).unwrap();
    assert!(helpers.len() >= 200, "{} helpers", helpers.len());
    let lookup = helpers.iter().find(|h| h.name == "bpf_map_lookup_elem").unwrap();
    assert_eq!(lookup.id, 1);
    // Defined through `BPF_CALL_2(bpf_map_lookup_elem, ...)`: found as that function, not as a
    // line window around it.
    let defined = lookup.defined_at.as_ref().unwrap();
    assert_eq!(defined.path, "kernel/bpf/helpers.c");
    let code = kingly::rag::source::read_lines(&root, &defined.path, defined.start_line, defined.end_line, usize::MAX)
        .unwrap();
    assert!(code.contains("BPF_CALL_2(bpf_map_lookup_elem,") && defined.end_line - defined.start_line < 20, "{code}");
    // A system call is found by its `sys_` name as the `SYSCALL_DEFINE` function.
    let hits = retriever.search("sys_bpf", 5, Mode::Bm25).unwrap();
    assert_eq!((hits[0].path.as_str(), hits[0].kind.as_str()), ("kernel/bpf/syscall.c", "function"), "{hits:#?}");
    let ktime = helpers.iter().find(|h| h.name == "bpf_ktime_get_ns").unwrap();
    assert_eq!((ktime.id, ktime.prototype.as_str()), (5, "u64 bpf_ktime_get_ns(void)"));

    let idioms = catalog::locking_idioms(&retriever).unwrap();
    let with_exemplars = idioms.iter().filter(|idiom| !idiom.exemplars.is_empty()).count();
    assert_eq!(with_exemplars, idioms.len(), "{idioms:#?}");
    let errors = catalog::error_idioms(&retriever).unwrap();
    assert!(!errors[0].exemplars.is_empty(), "{errors:#?}");

    // A fix found by its CVE subject in the Debian changelog.
    let hits = retriever.search("use-after-free io_uring", 10, Mode::Bm25).unwrap();
    assert!(hits.iter().any(|hit| hit.path == "history:debian-changelog"), "{hits:#?}");
}
