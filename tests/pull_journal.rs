//! The apply journal in a ConfigMap (`gitsync::operator::journal::ConfigMapJournal`) on a real
//! kube-apiserver: what it keeps and in what form, its owner and label, compare-and-swap between
//! holders (one wins, the one taken over stops naming its successor, a change made underneath
//! is never written over), a new leader's takeover with the entries intact, the size limit, and a
//! real apply dropped midway and resumed by new leaders that applies each change exactly once.

use gitsync::operator::crd::GitSync;
use gitsync::operator::journal::{
    CONFIGMAP_LIMIT, ConfigMapJournal, ENTRIES_KEY, HOLDER_KEY, Takeover, journal_name,
};
use gitsync::sync::apply::{
    self, ApplyOptions, Entry, FileJournal, Journal, JournalError, JournalStore, Quiet, Session,
};
use gitsync::sync::secrets::NoSecrets;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use serde_json::Value;

use crate::plan_apply::{
    Setup, apply_dropped_at_random_moments, bare_repository_with_a_change, saved_plan_of_commit,
    sink,
};
use crate::util::cluster::TestCluster;
use crate::util::operator::cluster_with_crds;

/// A cluster with the CRDs, an admin client, and GitSync `name` in `default` as the API server
/// holds it (with its uid).
async fn cluster_with_gitsync(name: &str) -> (TestCluster, kube::Client, GitSync) {
    let cluster = cluster_with_crds().await;
    let gitsync = add_gitsync(&cluster, name).await;
    let client = cluster.client().await;
    (cluster, client, gitsync)
}

async fn add_gitsync(cluster: &TestCluster, name: &str) -> GitSync {
    let (ok, out) = cluster.apply(&format!(
        "apiVersion: gitsync.dev/v1alpha1\nkind: GitSync\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  workspace: {{endpoint: us, tokenSecretRef: {{name: t, key: token}}}}\n  repository: {{url: 'https://example.com/r.git'}}\n  bidirectional: {{enabled: true}}\n"
    ));
    assert!(ok, "{out}");
    Api::<GitSync>::namespaced(cluster.client().await, "default")
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn store(client: &kube::Client, gitsync: &GitSync, takeover: Takeover) -> ConfigMapJournal {
    ConfigMapJournal::new(client.clone(), gitsync, takeover)
}

fn configmap(cluster: &TestCluster, name: &str) -> Value {
    cluster.get_or_null(&["configmap", "-n", "default", name])
}

fn done(step: usize, id: &str) -> Entry {
    Entry::Done {
        step,
        import_id: Some(id.to_owned()),
    }
}

fn header(plan: &str) -> Entry {
    Entry::Header {
        plan: plan.to_owned(),
    }
}

/// The entries are kept as the journal file keeps them, byte for byte; the ConfigMap is named
/// after its GitSync (a valid name even for the longest), owned by it without blocking its
/// deletion, and labelled; a removal deletes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_round_trips_through_its_configmap_in_the_file_format_with_its_owner()
-> Result<(), JournalError> {
    let (cluster, client, gitsync) = cluster_with_gitsync("acme").await;
    let mut journal = store(&client, &gitsync, Takeover::Never);
    assert_eq!(journal.describe(), "configmap default/acme-apply-journal");
    journal.acquire("replica-0").await?;
    assert_eq!(journal.load().await?, []);
    let entries = [
        header("plan-1"),
        Entry::Intent { step: 0 },
        done(0, "src_1"),
        Entry::Rewriting {
            step: 0,
            trees: vec!["t1".into(), "t2".into()],
        },
    ];
    for e in &entries {
        journal.append(e).await?;
    }
    assert_eq!(journal.load().await?, entries);
    // Another store reads the same, without taking it.
    let mut reader = store(&client, &gitsync, Takeover::Never);
    assert_eq!(reader.load().await?, entries);

    // The same text a journal file holds.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut file = FileJournal::new(dir.path().join("j"));
    file.acquire("test").await?;
    for e in &entries {
        file.append(e).await?;
    }
    let file_text = std::fs::read_to_string(dir.path().join("j")).unwrap_or_default();
    let cm = configmap(&cluster, "acme-apply-journal");
    assert_eq!(cm["data"][ENTRIES_KEY], file_text.as_str(), "{cm}");
    assert_eq!(cm["data"][HOLDER_KEY], "replica-0");
    assert_eq!(
        cm["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "gitsync"
    );
    let uid = gitsync.metadata.uid.clone().unwrap_or_default();
    assert_eq!(
        cm["metadata"]["ownerReferences"],
        serde_json::json!([{
            "apiVersion": "gitsync.dev/v1alpha1", "kind": "GitSync", "name": "acme",
            "uid": uid, "controller": false, "blockOwnerDeletion": false,
        }]),
        "(a bare API server runs no garbage collector: the reference is what deletes it)"
    );

    // A replace keeps only what it is given; a removal deletes the object.
    journal.replace(&[header("plan-2")]).await?;
    assert_eq!(reader.load().await?, [header("plan-2")]);
    journal.remove().await?;
    assert!(configmap(&cluster, "acme-apply-journal").is_null());
    assert_eq!(reader.load().await?, []);

    // The longest GitSync name there is still gives a name the API server takes.
    let long = "x".repeat(253);
    let owner = add_gitsync(&cluster, &long).await;
    let mut journal = store(&client, &owner, Takeover::Never);
    journal.acquire("replica-0").await?;
    journal.append(&header("p")).await?;
    let name = journal_name(&long);
    assert_eq!(journal.name(), name);
    assert!(
        name.len() <= 253 && name.ends_with("-apply-journal"),
        "{name}"
    );
    assert_eq!(
        configmap(&cluster, &name)["metadata"]["ownerReferences"][0]["name"],
        long.as_str()
    );
    Ok(())
}

/// Two holders: the second is refused while the first holds the journal; a leader takes it
/// over, and the one taken over fails its next write and read, naming the new holder. Two
/// leaders writing at once: one write lands, the other is refused.
#[tokio::test(flavor = "multi_thread")]
async fn two_holders_race_and_the_one_taken_over_stops_naming_its_successor()
-> Result<(), JournalError> {
    let (cluster, client, gitsync) = cluster_with_gitsync("race").await;
    let mut a = store(&client, &gitsync, Takeover::Never);
    a.acquire("replica-a").await?;
    a.load().await?;
    a.append(&header("p")).await?;
    let mut b = store(&client, &gitsync, Takeover::Never);
    match b.acquire("replica-b").await {
        Err(JournalError::Busy { holder, .. }) => assert_eq!(holder, "replica-a"),
        other => panic!("{other:?}"),
    }
    // A store that never took it cannot write.
    assert!(matches!(
        b.append(&Entry::Intent { step: 9 }).await,
        Err(JournalError::Busy { .. })
    ));
    a.append(&Entry::Intent { step: 0 }).await?;

    let mut leader = store(&client, &gitsync, Takeover::AsLeader);
    leader.acquire("replica-b").await?;
    assert_eq!(
        leader.load().await?,
        [header("p"), Entry::Intent { step: 0 }]
    );
    let taken = a.append(&done(0, "src_1")).await;
    match &taken {
        Err(e @ JournalError::TakenOver { holder, .. }) => {
            assert_eq!(holder, "replica-b");
            assert_eq!(e.reason(), "JournalTakenOver");
            let text = e.to_string();
            assert!(
                text.contains("configmap default/race-apply-journal")
                    && text.contains("taken over by replica-b"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        a.load().await,
        Err(JournalError::TakenOver { .. })
    ));
    assert!(matches!(
        a.remove().await,
        Err(JournalError::TakenOver { .. })
    ));
    leader.append(&done(0, "src_1")).await?;
    assert_eq!(
        configmap(&cluster, "race-apply-journal")["data"][HOLDER_KEY],
        "replica-b"
    );

    // Two leaders take it one after the other and write at once: the last to take it writes.
    let mut c = store(&client, &gitsync, Takeover::AsLeader);
    let mut d = store(&client, &gitsync, Takeover::AsLeader);
    let (took_c, took_d) = tokio::join!(c.acquire("replica-c"), d.acquire("replica-d"));
    took_c?;
    took_d?;
    let (wrote_c, wrote_d) = tokio::join!(
        c.append(&Entry::Intent { step: 1 }),
        d.append(&Entry::Intent { step: 2 })
    );
    let holder = configmap(&cluster, "race-apply-journal")["data"][HOLDER_KEY].clone();
    let (landed, lost, winner) = match (wrote_c, wrote_d) {
        (Ok(()), Err(e)) => (Entry::Intent { step: 1 }, e, "replica-c"),
        (Err(e), Ok(())) => (Entry::Intent { step: 2 }, e, "replica-d"),
        other => panic!("exactly one write lands: {other:?}"),
    };
    assert_eq!(holder, winner);
    assert!(
        matches!(&lost, JournalError::TakenOver { holder, .. } if holder == winner),
        "{lost}"
    );
    let entries = store(&client, &gitsync, Takeover::Never).load().await?;
    assert_eq!(
        entries,
        [
            header("p"),
            Entry::Intent { step: 0 },
            done(0, "src_1"),
            landed
        ]
    );
    Ok(())
}

/// A journal changed (or deleted) underneath its holder, by anyone, is not written over: the
/// holder's next write fails and the change stays. A damaged journal is said, with its line.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_changed_underneath_is_never_written_over() -> Result<(), JournalError> {
    let (cluster, client, gitsync) = cluster_with_gitsync("underneath").await;
    let name = "underneath-apply-journal";
    let mut journal = store(&client, &gitsync, Takeover::Never);
    journal.acquire("replica-0").await?;
    journal.append(&header("p")).await?;
    let edited = format!(
        "{}\n{}\n",
        serde_json::to_string(&header("p")).unwrap_or_default(),
        serde_json::to_string(&done(5, "by hand")).unwrap_or_default()
    );
    let patch = serde_json::json!({ "data": { ENTRIES_KEY: edited } }).to_string();
    cluster.kubectl_ok(&["patch", "configmap", "-n", "default", name, "-p", &patch]);
    match journal.append(&Entry::Intent { step: 0 }).await {
        Err(e @ JournalError::Moved { .. }) => {
            assert!(e.to_string().contains(name), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        configmap(&cluster, name)["data"][ENTRIES_KEY],
        edited.as_str(),
        "written over"
    );
    // Read again, the holder writes over what it read.
    assert_eq!(journal.load().await?, [header("p"), done(5, "by hand")]);
    journal.append(&Entry::Intent { step: 0 }).await?;

    cluster.kubectl_ok(&["delete", "configmap", "-n", "default", name]);
    assert!(matches!(
        journal.append(&Entry::Intent { step: 1 }).await,
        Err(JournalError::Moved { .. })
    ));
    assert!(configmap(&cluster, name).is_null(), "made again");

    // A line that is not an entry.
    let mut journal = store(&client, &gitsync, Takeover::Never);
    journal.acquire("replica-0").await?;
    journal.append(&header("p")).await?;
    let patch = serde_json::json!({ "data": { ENTRIES_KEY: format!("{}\nnot an entry\n", serde_json::to_string(&header("p")).unwrap_or_default()) } }).to_string();
    cluster.kubectl_ok(&["patch", "configmap", "-n", "default", name, "-p", &patch]);
    match store(&client, &gitsync, Takeover::Never).load().await {
        Err(e @ JournalError::Damaged { line: 2, .. }) => {
            assert!(e.to_string().contains(name), "{e}")
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// A leader that died mid-apply leaves its journal held: a store that may not take over is
/// refused naming it; the new leader takes it over and resumes with every entry intact.
#[tokio::test(flavor = "multi_thread")]
async fn a_new_leader_takes_over_a_dead_leaders_journal_with_its_entries()
-> Result<(), JournalError> {
    let (_cluster, client, gitsync) = cluster_with_gitsync("failover").await;
    let mut old = Journal::open(
        store(&client, &gitsync, Takeover::AsLeader),
        "plan-1",
        "replica-0",
    )
    .await?;
    old.record(Entry::Intent { step: 0 }).await?;
    old.record(done(0, "src_1")).await?;
    old.record(Entry::Intent { step: 1 }).await?;
    // The old leader is gone (nothing lets its hold go).
    drop(old);

    match Journal::open(
        store(&client, &gitsync, Takeover::Never),
        "plan-1",
        "replica-1",
    )
    .await
    {
        Err(JournalError::Busy { holder, .. }) => assert_eq!(holder, "replica-0"),
        other => panic!("{other:?}"),
    }
    let new = Journal::open(
        store(&client, &gitsync, Takeover::AsLeader),
        "plan-1",
        "replica-1",
    )
    .await?;
    assert_eq!(new.done(0), Some(Some("src_1".into())));
    assert!(new.answer_lost(1), "step 1 was sent without an answer");
    assert!(new.has_begun() && !new.is_complete());
    assert_eq!(new.created().collect::<Vec<_>>(), ["src_1"]);
    // Another plan's unfinished journal is still refused, taken over or not.
    assert!(matches!(
        Journal::open(
            store(&client, &gitsync, Takeover::AsLeader),
            "plan-2",
            "replica-1",
        )
        .await,
        Err(JournalError::OtherPlan { .. })
    ));
    Ok(())
}

/// The size limit is the API server's, counted the same way: a journal of exactly 1 MiB of data
/// is kept, one byte more is refused here before anything is sent (the API server would refuse
/// it too), and the journal stays as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_journal_too_large_for_a_configmap_is_refused_clearly_before_it_is_sent()
-> Result<(), JournalError> {
    let (_cluster, client, gitsync) = cluster_with_gitsync("big").await;
    let holder = "replica-0";
    let mut journal = store(&client, &gitsync, Takeover::Never);
    journal.acquire(holder).await?;
    journal.append(&header("small")).await?;
    let empty_line = serde_json::to_string(&header("")).unwrap_or_default().len() + 1;
    // The API server counts the values' bytes, not the keys'.
    let fill = CONFIGMAP_LIMIT - holder.len() - empty_line;
    journal.replace(&[header(&"x".repeat(fill))]).await?;
    match journal.replace(&[header(&"x".repeat(fill + 1))]).await {
        Err(e @ JournalError::TooLarge { .. }) => {
            assert_eq!(e.reason(), "JournalTooLarge");
            let text = e.to_string();
            assert!(
                text.contains("configmap default/big-apply-journal")
                    && text.contains(&format!("{} bytes", CONFIGMAP_LIMIT + 1))
                    && text.contains(&CONFIGMAP_LIMIT.to_string()),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        journal.append(&Entry::Intent { step: 0 }).await,
        Err(JournalError::TooLarge { .. })
    ));
    let kept = journal.load().await?;
    assert!(
        kept == [header(&"x".repeat(fill))],
        "the journal changed ({} entries)",
        kept.len()
    );

    // The API server's own limit is the same byte.
    let api = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let mut cm = api
        .get("big-apply-journal")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(data) = cm.data.as_mut() {
        data.insert(
            ENTRIES_KEY.into(),
            format!(
                "{}\n",
                serde_json::to_string(&header(&"x".repeat(fill + 1))).unwrap_or_default()
            ),
        );
    }
    match api
        .replace("big-apply-journal", &Default::default(), &cm)
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 422, "{s:?}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("the API server took one byte more"),
    }
    Ok(())
}

/// A real apply (28 changes into a branch, against the embedded workspace) journaled in a
/// ConfigMap, dropped at random moments again and again, each time resumed by a new leader (a
/// new store, another holder, taking it over): every change lands exactly once, no resource is
/// created twice, and the branch gets one commit. Then the journal is complete, a store that
/// may not take over is refused naming the last leader, and running it again sends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_dropped_midway_is_resumed_by_new_leaders_and_applies_each_change_once() {
    let (cluster, client, gitsync) = cluster_with_gitsync("pulls").await;
    let setup = Setup::new(&["v2025"]).await;
    let (bare, base, head) = bare_repository_with_a_change(&setup);
    let made = saved_plan_of_commit(&setup, bare.path(), base, head).await;
    let mut last = String::new();
    apply_dropped_at_random_moments(&setup, bare.path(), head, async |round| {
        last = format!("leader {round}");
        Session::open(
            made.clone(),
            store(&client, &gitsync, Takeover::AsLeader),
            &last,
        )
        .await
        .unwrap_or_else(|e| panic!("round {round}: {e}"))
    })
    .await;
    let cm = configmap(&cluster, "pulls-apply-journal");
    assert_eq!(cm["data"][HOLDER_KEY], last.as_str());
    let entries = store(&client, &gitsync, Takeover::Never)
        .load()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(entries.last(), Some(&Entry::Complete), "{entries:?}");

    match Session::open(
        made.clone(),
        store(&client, &gitsync, Takeover::Never),
        "a replica that is not the leader",
    )
    .await
    {
        Err(apply::ApplyError::Journal(JournalError::Busy { holder, .. })) => {
            assert_eq!(holder, last)
        }
        other => panic!("{other:?}"),
    }
    let mut session = Session::open(
        made.clone(),
        store(&client, &gitsync, Takeover::AsLeader),
        "the next leader",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(session.is_complete());
    let again = session
        .run(
            &setup.client,
            &mut sink(bare.path(), head),
            &ApplyOptions::new(&NoSecrets),
            &mut Quiet,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(again.applied.is_empty() && again.reconciled.is_empty());
}
