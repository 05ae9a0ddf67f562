//! Micro-benchmarks of the path every move takes through the server (docs/benchmarks.md):
//! reading a client frame, applying a tic-tac-toe move, serialising views and events, and a
//! room's broadcast of one event through real outboxes and actix-ws sessions.
//!
//! `cargo bench --bench hot_paths` measures; `cargo test --benches` (and so the test suite) runs
//! each benchmark once as a smoke test.

use std::borrow::Cow;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use futures_util::Stream;
use gamehall::game::tictactoe::TicTacToeKind;
use gamehall::game::{Game, GameKind, Viewer};
use gamehall::outbox::Outbox;
use gamehall::protocol::{ClientMsg, Ref, ServerMsg};
use serde_json::json;
use std::hint::black_box;

const ACT: &str = r#"{"type":"act","action":{"cell":4},"ref":17}"#;
const JOIN: &str = r#"{"type":"join","room":"r7kq2m9xw4","as":"player","ref":"j1"}"#;
const PING: &str = r#"{"type":"ping","ref":99}"#;
const UNKNOWN: &str = r#"{"type":"fly","ref":3}"#;

fn frame_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_parse");
    for (name, frame) in [("act", ACT), ("join", JOIN), ("ping", PING)] {
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| ClientMsg::parse(black_box(frame)).expect("a valid frame"))
        });
    }
    // The error path parses twice on purpose (to tell `unknown_type` from `bad_frame`).
    group.bench_function("unknown_type", |b| {
        b.iter(|| ClientMsg::parse(black_box(UNKNOWN)).expect_err("an unknown type"))
    });
    group.finish();
}

fn new_game() -> Box<dyn Game> {
    let kind = TicTacToeKind;
    let config = kind.configure(&json!({})).expect("default options");
    kind.setup(&config, 7)
}

fn tictactoe_apply(c: &mut Criterion) {
    let action = json!({ "cell": 4 });
    c.bench_function("tictactoe_apply", |b| {
        b.iter_batched(
            new_game,
            |mut game| game.apply(0, black_box(&action)).expect("a legal move"),
            BatchSize::SmallInput,
        )
    });
    // Validation refuses before anything changes: the cost of a bad action.
    let bad = json!({ "cell": "four" });
    let mut game = new_game();
    c.bench_function("tictactoe_apply_rejected", |b| {
        b.iter(|| game.apply(0, black_box(&bad)).expect_err("a bad action"))
    });
}

fn view_serialise(c: &mut Criterion) {
    let mut game = new_game();
    for (seat, cell) in [(0, 4), (1, 0), (0, 8)] {
        game.apply(seat, &json!({ "cell": cell })).expect("legal");
    }
    c.bench_function("view_state_frame", |b| {
        b.iter(|| {
            ServerMsg::State {
                seq: 5,
                state: game.view(black_box(Viewer::Spectator)),
                reference: None,
            }
            .encode()
        })
    });
    let data = json!({"seat": 0, "cell": 4, "mark": "X"});
    c.bench_function("event_frame", |b| {
        b.iter(|| {
            ServerMsg::Event {
                seq: 6,
                kind: Cow::Borrowed("move"),
                data: black_box(&data).clone(),
                reference: None,
            }
            .encode()
        })
    });
}

/// A real outbox and its socket writer, set up as `GET /v1/ws` sets them up; the writer (what
/// the connection's write task writes to the socket) is drained by a task that counts its bytes.
async fn outbox(delivered: Arc<AtomicU64>) -> Outbox {
    let (outbox, mut writer) = Outbox::new();
    actix_rt::spawn(async move {
        while let Some(Ok(bytes)) = poll_fn(|cx| Pin::new(&mut writer).poll_next(cx)).await {
            delivered.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    });
    outbox
}

/// Bytes of one unmasked server text frame carrying `len` bytes.
fn framed(len: usize) -> u64 {
    let header = match len {
        0..=125 => 2,
        126..=65535 => 4,
        _ => 10,
    };
    (header + len) as u64
}

/// What `Room::emit` does for a move: the public frame serialised once and shared by every
/// member but the actor, the actor's copy with its `ref`; then every socket writer delivers.
fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast_event");
    for receivers in [4usize, 100] {
        group.throughput(Throughput::Elements(receivers as u64));
        group.bench_function(BenchmarkId::from_parameter(receivers), |b| {
            let system = actix_rt::System::new();
            let delivered = Arc::new(AtomicU64::new(0));
            let outboxes: Vec<Outbox> = system.block_on(async {
                let mut all = Vec::new();
                for _ in 0..receivers {
                    all.push(outbox(Arc::clone(&delivered)).await);
                }
                all
            });
            let data = json!({"seat": 0, "cell": 4, "mark": "X"});
            b.iter_custom(|iters| {
                system.block_on(async {
                    let started = Instant::now();
                    for i in 0..iters {
                        let event = |reference| ServerMsg::Event {
                            seq: i + 2,
                            kind: Cow::Borrowed("move"),
                            data: data.clone(),
                            reference,
                        };
                        let public = event(None).encode();
                        let mine = event(Some(Ref::Number(i))).encode();
                        let want = delivered.load(Ordering::Relaxed)
                            + framed(mine.len())
                            + framed(public.len()) * (receivers as u64 - 1);
                        outboxes[0].send(mine);
                        for outbox in &outboxes[1..] {
                            outbox.send(public.clone());
                        }
                        let deadline = Instant::now() + Duration::from_secs(10);
                        while delivered.load(Ordering::Relaxed) < want {
                            assert!(Instant::now() < deadline, "frames were not delivered");
                            tokio::task::yield_now().await;
                        }
                    }
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(
    hot_paths,
    frame_parse,
    tictactoe_apply,
    view_serialise,
    broadcast
);
criterion_main!(hot_paths);
