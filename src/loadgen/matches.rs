//! `matches`: N concurrent virtual matches of a turn-based game. Each player is a real
//! WebSocket connection that authenticates, joins and plays random legal moves to the end; the
//! players then leave and the match starts again in a fresh room on the same connections.
//!
//! Latency is measured at the client: from sending `act` to receiving the event carrying its
//! `ref` (the actor's copy), and to the moment every seat has received that event.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gamehall::auth::IssuedToken;
use gamehall::game::Seat;
use gamehall::protocol::{ClientMsg, ErrorCode, Ref, Role, ServerMsg};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::pacer::Pacer;
use super::report::{per_second, Report};
use super::run::{describe_window, latency, server_move_latency, Run};
use super::table::{Table, TurnGame};
use super::wire::{Wire, WireError};

#[derive(Clone, Debug)]
pub struct MatchesOptions {
    pub matches: usize,
    pub game: TurnGame,
    pub players: u8,
    /// Moves per second across all matches; `None`: every match moves as fast as it is answered.
    pub rate: Option<u64>,
    pub warmup: Duration,
    pub duration: Duration,
    /// Stop once this many games were completed in the window.
    pub max_games: Option<u64>,
    pub setup_timeout: Duration,
}

/// One table: its players' connections in seat order, and what each has seen.
pub struct Match {
    /// `wires[seat]`.
    pub wires: Vec<Wire>,
    table: Box<dyn Table>,
    /// Whether seat's connection has read the `game_over` frame.
    finished: Vec<bool>,
}

/// What one `act` came to.
pub enum Moved {
    /// Applied; every seat has its event.
    Applied,
    /// The server refused it for a reason a retry may fix (`rate_limited`); already counted.
    Retry(Duration),
    /// The game had ended without the table seeing it coming (a blocked card game): its
    /// `game_over` follows.
    Over,
}

impl Match {
    /// Seats `wires` in a fresh room of `game` (created with the first player's token), in
    /// order, and reads up to every seat's first view of the started game.
    pub async fn seat(
        run: &Run,
        mut wires: Vec<Wire>,
        leader: &IssuedToken,
        game: TurnGame,
        players: u8,
    ) -> Result<Match, (Vec<Wire>, WireError)> {
        let room = match run
            .create_room(&leader.token, game.kind(), &game.options(players))
            .await
        {
            Ok(room) => room,
            Err(err) => return Err((wires, err)),
        };
        let mut table = game.table(players);
        let mut seated: Vec<Option<Wire>> = (0..wires.len()).map(|_| None).collect();
        for mut wire in wires.drain(..) {
            match wire.join(run, &room.id, Role::Player).await {
                Ok(joined) => {
                    let Some(seat) = joined.seat.filter(|s| (*s as usize) < seated.len()) else {
                        let mut back: Vec<Wire> = seated.into_iter().flatten().collect();
                        back.push(wire);
                        return Err((back, WireError::Unexpected("joined without a seat".into())));
                    };
                    table.observe(
                        seat,
                        &ServerMsg::State {
                            seq: joined.seq,
                            state: joined.state,
                            reference: None,
                        },
                    );
                    seated[seat as usize] = Some(wire);
                }
                Err(err) => {
                    let mut back: Vec<Wire> = seated.into_iter().flatten().collect();
                    back.push(wire);
                    return Err((back, err));
                }
            }
        }
        let wires: Vec<Wire> = seated.into_iter().flatten().collect();
        let finished = vec![false; wires.len()];
        let mut table_match = Match {
            wires,
            table,
            finished,
        };
        for seat in 0..table_match.wires.len() {
            if let Err(err) = table_match
                .read_until(run, seat as Seat, |msg| {
                    matches!(msg, ServerMsg::State { .. })
                })
                .await
            {
                return Err((table_match.wires, err));
            }
        }
        Ok(table_match)
    }

    /// Reads `seat`'s frames, teaching the table each, until one satisfies `done`.
    async fn read_until(
        &mut self,
        run: &Run,
        seat: Seat,
        done: impl Fn(&ServerMsg) -> bool,
    ) -> Result<ServerMsg, WireError> {
        let index = seat as usize;
        loop {
            let msg = self.wires[index].recv(run).await?;
            self.table.observe(seat, &msg);
            match &msg {
                ServerMsg::GameOver { .. } => self.finished[index] = true,
                // Errors carrying no `ref` are about the connection or the room, not a move.
                ServerMsg::Error {
                    code,
                    message,
                    reference: None,
                    ..
                } => run.stats.error(code.as_str(), || message.clone()),
                _ => {}
            }
            if done(&msg) {
                return Ok(msg);
            }
        }
    }

    pub fn turn(&self) -> Option<Seat> {
        self.table.turn()
    }

    /// Plays one random legal move for the seat on turn and waits until every seat has its
    /// event. Records both latencies.
    pub async fn play(
        &mut self,
        run: &Run,
        task: usize,
        seat: Seat,
        rng: &mut ChaCha8Rng,
    ) -> Result<Moved, WireError> {
        let action = self.table.choose(seat, rng);
        let index = seat as usize;
        let reference: Ref = self.wires[index].new_ref();
        let sent_at = Instant::now();
        self.wires[index]
            .send(
                run,
                &ClientMsg::Act {
                    action,
                    reference: Some(reference.clone()),
                },
            )
            .await?;
        let answer = self
            .read_until(run, seat, |msg| match msg {
                ServerMsg::Event { reference: r, .. } | ServerMsg::Error { reference: r, .. } => {
                    r.as_ref() == Some(&reference)
                }
                _ => false,
            })
            .await?;
        let seq = match answer {
            ServerMsg::Event { seq, .. } => seq,
            ServerMsg::Error {
                code,
                message,
                retry_after_ms,
                ..
            } => {
                let err = WireError::Server {
                    code,
                    message,
                    retry_after_ms,
                };
                match code {
                    ErrorCode::RateLimited => {
                        run.error(&err);
                        return Ok(Moved::Retry(err.retry_after().unwrap_or_default()));
                    }
                    ErrorCode::GameOver => return Ok(Moved::Over),
                    _ => return Err(err),
                }
            }
            _ => {
                return Err(WireError::Unexpected(
                    "a move answered by neither event nor error".into(),
                ))
            }
        };
        run.stats
            .latency(&run.stats.move_latency, task, sent_at.elapsed());
        run.stats.add(&run.stats.moves, 1);
        for other in 0..self.wires.len() {
            if other != index {
                self.read_until(
                    run,
                    other as Seat,
                    |msg| matches!(msg, ServerMsg::Event { seq: s, .. } if *s >= seq),
                )
                .await?;
            }
        }
        run.stats
            .latency(&run.stats.broadcast_latency, task, sent_at.elapsed());
        Ok(Moved::Applied)
    }

    /// Once the table believes the game decided: reads every seat up to its `game_over`.
    pub async fn finish(&mut self, run: &Run) -> Result<(), WireError> {
        for seat in 0..self.wires.len() {
            if !self.finished[seat] {
                self.read_until(run, seat as Seat, |msg| {
                    matches!(msg, ServerMsg::GameOver { .. })
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Every player leaves (a game still running is forfeited); the connections are handed
    /// back clean for the next room.
    pub async fn leave(mut self, run: &Run) -> Result<Vec<Wire>, (Vec<Wire>, WireError)> {
        for i in 0..self.wires.len() {
            if let Err(err) = self.wires[i].leave(run).await {
                return Err((self.wires, err));
            }
        }
        Ok(self.wires)
    }
}

/// Connects one wire per token, retrying until connected or stopped.
pub async fn connect_all(run: &Run, tokens: &[IssuedToken]) -> Option<Vec<Wire>> {
    let mut wires = Vec::with_capacity(tokens.len());
    for token in tokens {
        loop {
            if run.stopped() {
                close_all(wires).await;
                return None;
            }
            let started = Instant::now();
            match Wire::connect(run, &token.token).await {
                Ok(wire) => {
                    // Connections are made before the window opens: recorded regardless.
                    run.stats
                        .connect_latency
                        .record(wires.len(), started.elapsed());
                    wires.push(wire);
                    break;
                }
                Err(err) => {
                    run.error(&err);
                    run.pause(Duration::from_millis(500)).await;
                }
            }
        }
    }
    Some(wires)
}

pub async fn close_all(wires: Vec<Wire>) {
    for wire in wires {
        wire.close().await;
    }
}

struct Shared {
    run: Arc<Run>,
    options: MatchesOptions,
    /// One per lane, for fixed-rate runs; none when unpaced.
    pacers: Vec<Pacer>,
    ready: AtomicUsize,
}

impl Shared {
    /// The move budget of the lane that runs `task` (tasks run on lane `task % lanes`).
    fn pacer(&self, task: usize) -> Option<&Pacer> {
        (!self.pacers.is_empty()).then(|| &self.pacers[task % self.pacers.len()])
    }
}

async fn play_matches(shared: Arc<Shared>, task: usize, tokens: Vec<IssuedToken>) {
    let run = &shared.run;
    let options = &shared.options;
    let mut rng = ChaCha8Rng::seed_from_u64(run.seed ^ (task as u64).wrapping_mul(0x9E37_79B9));
    let Some(mut wires) = connect_all(run, &tokens).await else {
        return;
    };
    shared.ready.fetch_add(1, Ordering::SeqCst);
    while !run.stopped() {
        let mut table =
            match Match::seat(run, wires, &tokens[0], options.game, options.players).await {
                Ok(table) => table,
                Err((back, err)) => {
                    run.error(&err);
                    wires = match reconnect(run, back, &tokens).await {
                        Some(wires) => wires,
                        None => return,
                    };
                    continue;
                }
            };
        let played = play_out(&shared, &mut table, task, &mut rng).await;
        let left = table.leave(run).await;
        wires = match (played, left) {
            (Ok(()), Ok(wires)) => wires,
            (Err(err), Ok(wires)) => {
                run.error(&err);
                wires
            }
            (played, Err((back, err))) => {
                if let Err(err) = played {
                    run.error(&err);
                }
                if !run.stopped() {
                    run.error(&err);
                }
                match reconnect(run, back, &tokens).await {
                    Some(wires) => wires,
                    None => return,
                }
            }
        };
    }
    close_all(wires).await;
}

/// Plays the seated game to its end (or until the run stops).
async fn play_out(
    shared: &Shared,
    table: &mut Match,
    task: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(), WireError> {
    let run = &shared.run;
    while let Some(seat) = table.turn() {
        if run.stopped() {
            return Ok(());
        }
        if let Some(pacer) = shared.pacer(task) {
            pacer.take().await;
        }
        match table.play(run, task, seat, rng).await? {
            Moved::Applied => {}
            Moved::Retry(wait) => run.pause(wait).await,
            Moved::Over => break,
        }
    }
    table.finish(run).await?;
    run.stats.add(&run.stats.games, 1);
    if let Some(max) = shared.options.max_games {
        if run.stats.recording() && run.stats.games.load(Ordering::Relaxed) >= max {
            run.stop();
        }
    }
    Ok(())
}

/// After an error the connections are in an unknown state: close them and connect afresh.
async fn reconnect(run: &Run, wires: Vec<Wire>, tokens: &[IssuedToken]) -> Option<Vec<Wire>> {
    close_all(wires).await;
    run.pause(Duration::from_millis(100)).await;
    connect_all(run, tokens).await
}

pub async fn run(run: Arc<Run>, options: MatchesOptions) -> Report {
    let mut report = Report::new("matches");
    report.set("game", options.game.kind());
    report.set("matches", options.matches);
    report.set("players_per_match", options.players);
    report.set("target_moves_per_s", options.rate);
    let players = options.players as usize;
    eprintln!(
        "matches: {} tokens, then {} matches of {} ...",
        options.matches * players,
        options.matches,
        options.game.kind()
    );
    let tokens = run.guests("lg-match", options.matches * players).await;
    let shared = Arc::new(Shared {
        run: Arc::clone(&run),
        pacers: options.rate.map_or_else(Vec::new, |rate| {
            // Each lane paces its own matches, at its share of the rate.
            let lanes = run.lanes.count();
            (0..lanes)
                .map(|lane| Pacer::start(run.lanes.runtime(lane), rate as f64 / lanes as f64))
                .collect()
        }),
        options: options.clone(),
        ready: AtomicUsize::new(0),
    });
    let mut tasks = Vec::new();
    for (task, seats) in tokens.chunks_exact(players).enumerate() {
        tasks.push(run.lanes.spawn(
            task,
            play_matches(Arc::clone(&shared), task, seats.to_vec()),
        ));
    }
    let started = Instant::now();
    while shared.ready.load(Ordering::SeqCst) < tasks.len()
        && started.elapsed() < options.setup_timeout
        && !run.stopped()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.set("matches_connected", shared.ready.load(Ordering::SeqCst));
    report.set(
        "setup_s",
        super::report::round(started.elapsed().as_secs_f64(), 2),
    );
    eprintln!(
        "matches: playing; warm-up {:?}, window {:?}",
        options.warmup, options.duration
    );
    run.pause(options.warmup).await;
    let (before, after) = run.window(options.duration).await;
    run.stop();
    for pacer in &shared.pacers {
        pacer.close();
    }
    let seconds = describe_window(&mut report, &run, &before, &after);
    let games = run.stats.games.load(Ordering::Relaxed);
    let moves = run.stats.moves.load(Ordering::Relaxed);
    report.set("games", games);
    report.set("games_per_s", per_second(games, seconds));
    report.set("moves", moves);
    report.set("moves_per_s", per_second(moves, seconds));
    report.set("move_latency_ms", latency(&run.stats.move_latency));
    report.set(
        "broadcast_latency_ms",
        latency(&run.stats.broadcast_latency),
    );
    report.set(
        "server_move_broadcast_ms",
        server_move_latency(&before, &after),
    );
    report.set("connect_latency_ms", latency(&run.stats.connect_latency));
    for task in tasks {
        // A task that panicked is a bug in the load generator; its matches are simply missing.
        if tokio::time::timeout(run.timeout * 2, task).await.is_err() {
            run.stats
                .error("shutdown_timeout", || "a match did not stop in time".into());
        }
    }
    report.errors(run.stats.errors());
    report.set(
        "note",
        json!(
            "latency: act sent -> the event with its ref (move) / -> every seat has it (broadcast)"
        ),
    );
    report
}
