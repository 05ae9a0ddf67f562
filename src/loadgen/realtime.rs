//! `realtime`: R rooms of P players in the tick game (`snake`) at H ticks a second. Every
//! player steers at random a few times a second and reads every tick. Reports, from the
//! server's own metrics, tick duration and the fraction of ticks that overran their period;
//! from the clients, tick frames received per second, the spacing of ticks on each connection,
//! ticks a connection never saw, and the time from an input to the next tick.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gamehall::auth::IssuedToken;
use gamehall::client::games::snake::{
    Direction, SnakeEvent, SnakeInput, SnakeParseError, SnakeView, Tick,
};
use gamehall::ids::RoomId;
use gamehall::protocol::{ClientMsg, ErrorCode, Role, ServerMsg};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::probe::HistogramDelta;
use super::report::{per_second, round, Report};
use super::run::{describe_window, latency, Run, ServerSample};
use super::wire::{Wire, WireError};

/// The real-time game kind and the event kind of its ticks.
pub const GAME: &str = "snake";
const TICK_EVENT: &str = "tick";

#[derive(Clone, Debug)]
pub struct RealtimeOptions {
    pub rooms: usize,
    pub players: u8,
    pub tick_hz: u32,
    /// Inputs per second per player.
    pub input_hz: f64,
    pub warmup: Duration,
    pub duration: Duration,
    pub setup_timeout: Duration,
}

/// One room's players: the first creates each room, the others follow it there.
struct Group {
    room: watch::Sender<Option<RoomId>>,
}

struct Shared {
    run: Arc<Run>,
    options: RealtimeOptions,
    /// Players in a room whose game has started.
    playing: AtomicUsize,
    /// Players who have been in a started game at least once.
    started_once: AtomicUsize,
    games: AtomicUsize,
    /// Inputs refused because the game moved on before they arrived.
    inputs_overtaken: AtomicUsize,
}

/// What a player sees of the board, read with the client library's typed snake view: enough
/// to steer away from walls and bodies, as a person would, so that games last and rooms keep
/// ticking.
#[derive(Default)]
struct Board {
    seat: Option<u8>,
    /// `None` until the game has started (the joined state is `null` before).
    view: Option<SnakeView>,
}

impl Board {
    /// The board of a room just joined at `seat`.
    fn joined(seat: Option<u8>, state: &Value) -> Result<Board, SnakeParseError> {
        let mut board = Board { seat, view: None };
        board.learn_state(state)?;
        Ok(board)
    }

    /// Reads a `state` (a whole view); `null` means the game has not started.
    fn learn_state(&mut self, state: &Value) -> Result<(), SnakeParseError> {
        self.view = match SnakeView::from_value(state) {
            Ok(view) => Some(view),
            Err(SnakeParseError::NotStarted) => None,
            Err(err) => return Err(err),
        };
        Ok(())
    }

    /// Follows a `tick` event (the board after the tick).
    fn learn_tick(&mut self, data: &Value) -> Result<(), SnakeParseError> {
        let tick = SnakeEvent::Tick(Tick::from_value(data)?);
        if let Some(view) = &mut self.view {
            view.apply(&tick);
        }
        Ok(())
    }

    /// A turn to send, if any: `forced` when the cell ahead is deadly, else a random turn.
    fn steer(&self, rng: &mut ChaCha8Rng, random: bool) -> Option<Direction> {
        let view = self.view.as_ref()?;
        let snake = view.snake(self.seat?).filter(|s| s.alive)?;
        let head = snake.head()?;
        let ahead_safe = !view.is_deadly(head.step(snake.dir));
        if ahead_safe && !random {
            return None;
        }
        let turns: Vec<Direction> = snake
            .directions()
            .into_iter()
            .filter(|&dir| dir != snake.dir)
            .collect();
        let safe: Vec<Direction> = turns
            .iter()
            .copied()
            .filter(|&dir| !view.is_deadly(head.step(dir)))
            .collect();
        match safe.choose(rng) {
            Some(&turn) => Some(turn),
            // Cornered: keep going if that is safe, else any turn (the snake dies either way).
            None if ahead_safe => None,
            None => turns.choose(rng).copied(),
        }
    }
}

/// What one player does in one room until its game ends or the run stops.
struct Seat<'a> {
    shared: &'a Shared,
    task: usize,
    rng: ChaCha8Rng,
    seat: Option<u8>,
    board: Board,
    last_tick: Option<(u64, Instant)>,
    /// When the last input not yet followed by a tick was sent.
    input_pending: Option<Instant>,
    /// Whether this player has been in a started game yet.
    has_played: bool,
}

impl Seat<'_> {
    fn next_input(&mut self) -> Duration {
        let hz = self.shared.options.input_hz;
        if hz <= 0.0 {
            return Duration::from_secs(3600);
        }
        // Exponential gaps: inputs arrive like people's, not in lockstep.
        let u: f64 = self.rng.gen_range(1e-6..1.0);
        Duration::from_secs_f64(-u.ln() / hz)
    }

    fn on_tick(&mut self, data: &Value) {
        let run = &self.shared.run;
        let now = Instant::now();
        run.stats.add(&run.stats.ticks, 1);
        let tick = data.get("tick").and_then(Value::as_u64);
        if let (Some(tick), Some((last, at))) = (tick, self.last_tick) {
            if tick > last + 1 {
                run.stats.add(&run.stats.ticks_missed, tick - last - 1);
            }
            run.stats
                .latency(&run.stats.tick_interval, self.task, now - at);
        }
        if let Some(sent) = self.input_pending.take() {
            run.stats
                .latency(&run.stats.input_to_tick, self.task, now - sent);
        }
        if let Some(tick) = tick {
            self.last_tick = Some((tick, now));
        }
        if let Err(err) = self.board.learn_tick(data) {
            run.stats.error("bad_tick", || err.to_string());
        }
    }

    async fn input(&mut self, wire: &mut Wire, dir: Direction) -> Result<(), WireError> {
        let run = &self.shared.run;
        let reference = wire.new_ref();
        wire.send(
            run,
            &ClientMsg::Act {
                action: json!(SnakeInput::new(dir)),
                reference: Some(reference),
            },
        )
        .await?;
        self.input_pending.get_or_insert_with(Instant::now);
        Ok(())
    }

    fn on_start(&mut self) {
        self.shared.playing.fetch_add(1, Ordering::SeqCst);
        if !self.has_played {
            self.has_played = true;
            self.shared.started_once.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Plays in the room `wire` has joined until game over (`Ok(true)`) or stop (`Ok(false)`).
    async fn play(&mut self, wire: &mut Wire) -> Result<bool, WireError> {
        let run = &self.shared.run;
        let mut started = false;
        let mut next_input = tokio::time::Instant::now() + self.next_input();
        loop {
            let msg = tokio::select! {
                () = run.until_stopped() => return Ok(false),
                () = tokio::time::sleep_until(next_input), if started => {
                    next_input = tokio::time::Instant::now() + self.next_input();
                    if let Some(dir) = self.board.steer(&mut self.rng, true) {
                        self.input(wire, dir).await?;
                    }
                    continue;
                }
                msg = tokio::time::timeout(run.timeout, wire.recv_unbounded(run)) => {
                    msg.map_err(|_| WireError::Timeout(run.timeout))??
                }
            };
            match msg {
                ServerMsg::Event { kind, data, .. } => {
                    if kind == TICK_EVENT {
                        self.on_tick(&data);
                        if let Some(dir) = self.board.steer(&mut self.rng, false) {
                            self.input(wire, dir).await?;
                        }
                    } else if kind == "started" && !started {
                        started = true;
                        self.on_start();
                    }
                }
                ServerMsg::State { state, .. } => {
                    if let Err(err) = self.board.learn_state(&state) {
                        run.stats.error("bad_state", || err.to_string());
                    }
                    if !started {
                        started = true;
                        self.on_start();
                    }
                }
                ServerMsg::GameOver { .. } => {
                    if started {
                        self.shared.playing.fetch_sub(1, Ordering::SeqCst);
                    }
                    return Ok(true);
                }
                // An input decided on one tick may reach the server after the next: the snake
                // has died or turned meanwhile. Every real-time client meets this; it is
                // counted apart from errors.
                ServerMsg::Error {
                    code: ErrorCode::IllegalMove,
                    ..
                } => {
                    self.shared.inputs_overtaken.fetch_add(1, Ordering::Relaxed);
                }
                ServerMsg::Error { code, message, .. } => {
                    run.stats.error(code.as_str(), || message.clone())
                }
                _ => {}
            }
        }
    }
}

async fn player(
    shared: Arc<Shared>,
    group: Arc<Group>,
    task: usize,
    leader: bool,
    token: IssuedToken,
) {
    let run = &shared.run;
    let options = &shared.options;
    let mut seat = Seat {
        shared: &shared,
        task,
        rng: ChaCha8Rng::seed_from_u64(run.seed ^ (task as u64).wrapping_mul(0x51_7CC1)),
        seat: None,
        board: Board::default(),
        last_tick: None,
        input_pending: None,
        has_played: false,
    };
    let mut rooms = group.room.subscribe();
    let mut last_room: Option<RoomId> = None;
    let mut wire: Option<Wire> = None;
    while !run.stopped() {
        let mut current = match wire.take() {
            Some(wire) => wire,
            None => match Wire::connect(run, &token.token).await {
                Ok(wire) => wire,
                Err(err) => {
                    run.error(&err);
                    run.pause(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let room = if leader {
            let options_json = json!({"players": options.players, "tick_hz": options.tick_hz});
            match run.create_room(&token.token, GAME, &options_json).await {
                Ok(room) => {
                    group.room.send_replace(Some(room.id.clone()));
                    room.id
                }
                Err(err) => {
                    run.error(&err);
                    wire = Some(current);
                    run.pause(Duration::from_millis(500)).await;
                    continue;
                }
            }
        } else {
            let wanted = last_room.clone();
            let next = tokio::select! {
                () = run.until_stopped() => None,
                next = rooms.wait_for(|room| room.is_some() && *room != wanted) => {
                    next.ok().and_then(|room| room.clone())
                }
            };
            match next {
                Some(room) => room,
                None => {
                    current.close().await;
                    return;
                }
            }
        };
        last_room = Some(room.clone());
        match current.join(run, &room, Role::Player).await {
            Ok(joined) => {
                seat.seat = joined.seat;
                seat.board = Board::joined(joined.seat, &joined.state).unwrap_or_else(|err| {
                    run.stats.error("bad_state", || err.to_string());
                    Board::default()
                });
            }
            Err(err) => {
                run.error(&err);
                current.close().await;
                continue;
            }
        }
        seat.last_tick = None;
        seat.input_pending = None;
        match seat.play(&mut current).await {
            Ok(finished) => {
                if finished && leader {
                    shared.games.fetch_add(1, Ordering::SeqCst);
                }
                match current.leave(run).await {
                    Ok(()) => wire = Some(current),
                    Err(err) => {
                        if !run.stopped() {
                            run.error(&err);
                        }
                        current.close().await;
                    }
                }
            }
            Err(err) => {
                run.error(&err);
                current.close().await;
            }
        }
    }
    if let Some(wire) = wire {
        wire.close().await;
    }
}

/// Tick duration and overruns of `GAME` between two scrapes.
fn tick_figures(before: &ServerSample, after: &ServerSample, seconds: f64) -> Value {
    let (Some(b), Some(a)) = (&before.metrics, &after.metrics) else {
        return Value::Null;
    };
    let label = format!("game=\"{GAME}\"");
    let durations = HistogramDelta::between(b, a, "gamehall_tick_duration_seconds", Some(&label));
    let overruns = a.sum("gamehall_tick_overruns_total", Some(&label))
        - b.sum("gamehall_tick_overruns_total", Some(&label));
    let ms = |v: Option<f64>| v.map_or(Value::Null, |s| json!(round(s * 1000.0, 3)));
    json!({
        "ticks": durations.count,
        "ticks_per_s": round(durations.count / seconds.max(1e-9), 1),
        "duration_p50_at_most_ms": ms(durations.quantile_upper_bound(0.5)),
        "duration_p99_at_most_ms": ms(durations.quantile_upper_bound(0.99)),
        "overruns": overruns,
        "overrun_fraction": if durations.count > 0.0 {
            json!(round(overruns / durations.count, 6))
        } else {
            Value::Null
        },
    })
}

pub async fn run(run: Arc<Run>, options: RealtimeOptions) -> Report {
    let mut report = Report::new("realtime");
    report.set("game", GAME);
    report.set("rooms", options.rooms);
    report.set("players_per_room", options.players);
    report.set("tick_hz", options.tick_hz);
    report.set("inputs_per_player_per_s", options.input_hz);
    let players = options.players.max(1) as usize;
    eprintln!(
        "realtime: {} tokens for {} rooms ...",
        options.rooms * players,
        options.rooms
    );
    let tokens = run.guests("lg-rt", options.rooms * players).await;
    let shared = Arc::new(Shared {
        run: Arc::clone(&run),
        options: options.clone(),
        playing: AtomicUsize::new(0),
        started_once: AtomicUsize::new(0),
        games: AtomicUsize::new(0),
        inputs_overtaken: AtomicUsize::new(0),
    });
    let mut tasks = Vec::new();
    for (room, seats) in tokens.chunks_exact(players).enumerate() {
        let group = Arc::new(Group {
            room: watch::Sender::new(None),
        });
        for (i, token) in seats.iter().enumerate() {
            // A room's players share a lane.
            tasks.push(run.lanes.spawn(
                room,
                player(
                    Arc::clone(&shared),
                    Arc::clone(&group),
                    room * players + i,
                    i == 0,
                    token.clone(),
                ),
            ));
        }
    }
    let total = tasks.len();
    let started = Instant::now();
    while shared.started_once.load(Ordering::SeqCst) < total
        && started.elapsed() < options.setup_timeout
        && !run.stopped()
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    report.set(
        "players_started",
        shared.started_once.load(Ordering::SeqCst),
    );
    report.set(
        "players_playing_at_start",
        shared.playing.load(Ordering::SeqCst),
    );
    report.set("setup_s", round(started.elapsed().as_secs_f64(), 2));
    eprintln!(
        "realtime: playing; warm-up {:?}, window {:?}",
        options.warmup, options.duration
    );
    run.pause(options.warmup).await;
    let games_before = shared.games.load(Ordering::SeqCst);
    let (before, after) = run.window(options.duration).await;
    let players_at_end = shared.playing.load(Ordering::SeqCst);
    run.stop();
    let seconds = describe_window(&mut report, &run, &before, &after);
    report.set("players_playing_at_end", players_at_end);
    report.set(
        "games_finished",
        shared.games.load(Ordering::SeqCst) - games_before,
    );
    report.set("server_ticks", tick_figures(&before, &after, seconds));
    let ticks = run.stats.ticks.load(Ordering::Relaxed);
    report.set("tick_frames_received", ticks);
    report.set("tick_frames_per_s", per_second(ticks, seconds));
    report.set(
        "tick_frames_expected_per_s",
        round(total as f64 * options.tick_hz as f64, 1),
    );
    report.set(
        "ticks_missed",
        run.stats.ticks_missed.load(Ordering::Relaxed),
    );
    report.set("tick_interval_ms", latency(&run.stats.tick_interval));
    report.set("input_to_tick_ms", latency(&run.stats.input_to_tick));
    report.set(
        "inputs_overtaken_by_a_tick",
        shared.inputs_overtaken.load(Ordering::Relaxed),
    );
    for task in tasks {
        if tokio::time::timeout(run.timeout * 2, task).await.is_err() {
            run.stats.error("shutdown_timeout", || {
                "a player did not stop in time".into()
            });
        }
    }
    report.errors(run.stats.errors());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(dir: &str, head: [i64; 2]) -> Board {
        Board::joined(
            Some(0),
            &json!({
                "width": 10, "height": 10, "tick": 3, "tick_hz": 20, "food": [],
                "snakes": [
                    {"seat": 0, "body": [head], "dir": dir, "alive": true, "length": 1},
                    {"seat": 1, "body": [[9, 0], [8, 0]], "dir": "left", "alive": true, "length": 2},
                ],
            }),
        )
        .expect("a snake view")
    }

    #[test]
    fn a_player_turns_away_from_a_wall_and_never_reverses() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Heading right at the right wall, with another snake's body above: only down is safe.
        let cornered = board("right", [9, 1]);
        for _ in 0..20 {
            assert_eq!(cornered.steer(&mut rng, false), Some(Direction::Down));
        }
        // Open board: no forced turn; a random turn is never the reverse or straight on.
        let open = board("left", [4, 5]);
        assert_eq!(open.steer(&mut rng, false), None);
        for _ in 0..20 {
            let turn = open.steer(&mut rng, true).expect("a random turn");
            assert!(turn == Direction::Up || turn == Direction::Down, "{turn:?}");
        }
        // A dead snake steers nothing.
        let mut dead = board("up", [4, 5]);
        dead.learn_tick(&json!({
            "tick": 4, "food": [],
            "snakes": [{"seat": 0, "body": [], "dir": "up", "alive": false, "length": 1}],
        }))
        .expect("a tick");
        assert_eq!(dead.steer(&mut rng, true), None);
    }
}
