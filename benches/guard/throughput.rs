//! Phase 1 of `cargo bench --bench guard`: the tick path's throughput against a raw ractor
//! baseline (actors A and B, the producer, the runs and their CPU time).

use super::*;

// ---- 1. throughput: actors A and B ----------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A -> B with ractor's send_message.
    Raw,
    /// A -> Guard::send_tick (credit window, no shedding) -> pump -> sink -> B.
    Guard,
    /// A -> Guard::send_tick blindly (sheds when the queue is full) -> pump -> sink -> B.
    GuardUnbounded,
}

impl Mode {
    pub(crate) fn short(self) -> &'static str {
        match self {
            Mode::Raw => "raw",
            Mode::Guard => "guard",
            Mode::GuardUnbounded => "guard (no bp)",
        }
    }
}

pub(crate) fn tick(i: u64) -> Tick {
    Tick {
        account: ACCOUNT.to_owned(),
        event: MarketEvent::Price {
            subscription: 1,
            tick_type: "last".to_owned(),
            price: 100.0 + (i % 100) as f64 * 0.01,
            size: Some(100.0),
        },
    }
}

pub(crate) enum BMsg {
    Tick(Tick),
    /// The number of ticks that will arrive in all (A sends it when some were shed).
    Expect(u64),
}

/// Actor B: counts ticks; reports the instant it has counted its target.
pub(crate) struct Counter;

pub(crate) struct CounterState {
    pub(crate) count: u64,
    pub(crate) target: u64,
    pub(crate) done: Option<oneshot::Sender<(Instant, u64)>>,
}

impl Actor for Counter {
    type Msg = BMsg;
    type State = CounterState;
    type Arguments = (u64, oneshot::Sender<(Instant, u64)>);

    async fn pre_start(
        &self,
        _: ActorRef<BMsg>,
        (target, done): (u64, oneshot::Sender<(Instant, u64)>),
    ) -> Result<CounterState, ActorProcessingErr> {
        Ok(CounterState { count: 0, target, done: Some(done) })
    }

    async fn handle(
        &self,
        _: ActorRef<BMsg>,
        message: BMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BMsg::Tick(tick) => {
                std::hint::black_box(&tick);
                state.count += 1;
            }
            BMsg::Expect(target) => state.target = target,
        }
        if state.count >= state.target {
            if let Some(done) = state.done.take() {
                let _ = done.send((Instant::now(), state.count));
            }
        }
        Ok(())
    }
}

/// A's credit window in front of the guard's queue: at most `TICK_QUEUE` ticks between A's
/// `send_tick` and the pump taking them off the queue (the sink counts those it is handed).
pub(crate) struct Window {
    pub(crate) taken: Arc<AtomicU64>,
    pub(crate) sent: u64,
    pub(crate) seen: u64,
    /// Times A found the window exhausted and yielded.
    pub(crate) stalls: u64,
}

impl Window {
    async fn acquire(&mut self) {
        let cap = TICK_QUEUE as u64;
        if self.sent - self.seen < cap {
            return;
        }
        self.seen = self.taken.load(Ordering::Acquire);
        while self.sent - self.seen >= cap {
            self.stalls += 1;
            tokio::task::yield_now().await;
            self.seen = self.taken.load(Ordering::Acquire);
        }
    }
}

pub(crate) enum Route {
    Raw,
    Guard { guard: Guard, sink: TickReceiver, window: Option<Window> },
}

pub(crate) struct ForwarderArgs {
    pub(crate) b: ActorRef<BMsg>,
    pub(crate) route: Route,
    pub(crate) expected: u64,
    pub(crate) done: Option<oneshot::Sender<ForwardReport>>,
}

pub(crate) struct ForwardReport {
    pub(crate) shed: u64,
    pub(crate) stalls: u64,
}

/// Actor A: receives the producer's ticks and forwards each, raw or through the guard.
pub(crate) struct Forwarder;

pub(crate) struct ForwarderState {
    pub(crate) args: ForwarderArgs,
    pub(crate) received: u64,
    pub(crate) shed: u64,
}

impl Actor for Forwarder {
    type Msg = Tick;
    type State = ForwarderState;
    type Arguments = ForwarderArgs;

    async fn pre_start(&self, _: ActorRef<Tick>, args: ForwarderArgs) -> Result<ForwarderState, ActorProcessingErr> {
        Ok(ForwarderState { args, received: 0, shed: 0 })
    }

    async fn handle(
        &self,
        _: ActorRef<Tick>,
        tick: Tick,
        state: &mut ForwarderState,
    ) -> Result<(), ActorProcessingErr> {
        match &mut state.args.route {
            Route::Raw => {
                let _ = state.args.b.send_message(BMsg::Tick(tick));
            }
            Route::Guard { guard, sink, window } => {
                if let Some(window) = window {
                    window.acquire().await;
                    window.sent += 1;
                }
                if !guard.send_tick(tick, Arc::clone(sink)) {
                    state.shed += 1;
                }
            }
        }
        state.received += 1;
        if state.received == state.args.expected {
            if state.shed > 0 {
                let _ = state.args.b.send_message(BMsg::Expect(state.args.expected - state.shed));
            }
            let stalls = match &state.args.route {
                Route::Guard { window: Some(w), .. } => w.stalls,
                _ => 0,
            };
            if let Some(done) = state.args.done.take() {
                let _ = done.send(ForwardReport { shed: state.shed, stalls });
            }
        }
        Ok(())
    }
}

#[derive(Default, Clone)]
pub(crate) struct RunResult {
    pub(crate) messages: u64,
    pub(crate) delivered: u64,
    /// Shed as A saw it (send_tick returned false).
    pub(crate) shed: u64,
    /// The guard's own counters for the account over the run.
    pub(crate) guard_passed: u64,
    pub(crate) guard_shed: u64,
    pub(crate) guard_skipped: u64,
    pub(crate) stalls: u64,
    pub(crate) elapsed: Duration,
    /// Process CPU time (user + system, all threads) over the run.
    pub(crate) cpu: Duration,
    pub(crate) timed_out: bool,
}

impl RunResult {
    /// Delivered messages per second.
    pub(crate) fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Process CPU nanoseconds per offered message.
    pub(crate) fn cpu_ns(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e9 / self.messages.max(1) as f64
    }
}

/// CPU time of this process (all threads, user + system) from /proc/self/stat, in USER_HZ ticks
/// (10 ms); zero where unavailable.
pub(crate) fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else { return Duration::ZERO };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

/// (busy, steal) jiffies of the whole machine from /proc/stat.
pub(crate) fn machine_cpu() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else { return (0, 0) };
    let Some(line) = stat.lines().next() else { return (0, 0) };
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum();
    (busy, v.get(7).copied().unwrap_or(0))
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub(crate) fn paper_counts(guard: &Guard) -> GuardCounts {
    guard.counts().into_iter().find(|c| c.account == ACCOUNT).expect("the account has guard counters")
}

pub(crate) async fn throughput_run(guard: &Guard, mode: Mode, n: u64) -> RunResult {
    let (b_done_tx, b_done_rx) = oneshot::channel();
    let (b, b_handle) = Actor::spawn(None, Counter, (n, b_done_tx)).await.expect("B starts");
    let taken = Arc::new(AtomicU64::new(0));
    let route = match mode {
        Mode::Raw => Route::Raw,
        Mode::Guard | Mode::GuardUnbounded => {
            let sink: TickReceiver = {
                let (b, taken) = (b.clone(), Arc::clone(&taken));
                Arc::new(move |tick| {
                    taken.fetch_add(1, Ordering::Release);
                    b.send_message(BMsg::Tick(tick)).is_ok()
                })
            };
            let window =
                (mode == Mode::Guard).then(|| Window { taken: Arc::clone(&taken), sent: 0, seen: 0, stalls: 0 });
            Route::Guard { guard: guard.clone(), sink, window }
        }
    };
    let (a_done_tx, a_done_rx) = oneshot::channel();
    let args = ForwarderArgs { b: b.clone(), route, expected: n, done: Some(a_done_tx) };
    let (a, a_handle) = Actor::spawn(None, Forwarder, args).await.expect("A starts");

    let before = paper_counts(guard);
    let cpu_before = process_cpu();
    let start = Instant::now();
    for i in 0..n {
        a.send_message(tick(i)).expect("A is alive");
        if (i + 1) % PRODUCER_BATCH == 0 {
            tokio::task::yield_now().await;
        }
    }
    let finished = tokio::time::timeout(RUN_DEADLINE, b_done_rx).await;
    let end = Instant::now();
    let cpu_after = process_cpu();
    let report = tokio::time::timeout(Duration::from_secs(5), a_done_rx).await.ok().and_then(|r| r.ok());
    let cpu = cpu_after.saturating_sub(cpu_before);
    let mut result = RunResult { messages: n, cpu, ..RunResult::default() };
    match finished {
        Ok(Ok((at, count))) => {
            result.elapsed = at - start;
            result.delivered = count;
        }
        _ => {
            result.elapsed = end - start;
            result.timed_out = true;
        }
    }
    if let Some(report) = report {
        result.shed = report.shed;
        result.stalls = report.stalls;
    }
    // The pump bumps ticks_passed just after the sink returns: let it catch up.
    if mode != Mode::Raw {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let now = paper_counts(guard);
            let accounted = (now.ticks_passed - before.ticks_passed) + (now.ticks_shed - before.ticks_shed);
            if accounted >= n || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let after = paper_counts(guard);
    result.guard_passed = after.ticks_passed - before.ticks_passed;
    result.guard_shed = after.ticks_shed - before.ticks_shed;
    result.guard_skipped = after.ticks_skipped - before.ticks_skipped;
    a.stop(None);
    b.stop(None);
    let _ = a_handle.await;
    let _ = b_handle.await;
    result
}

#[derive(Default)]
pub(crate) struct Throughput {
    pub(crate) raw: Vec<RunResult>,
    pub(crate) guard: Vec<RunResult>,
    pub(crate) unbounded: Vec<RunResult>,
}

impl Throughput {
    pub(crate) fn of(&mut self, mode: Mode) -> &mut Vec<RunResult> {
        match mode {
            Mode::Raw => &mut self.raw,
            Mode::Guard => &mut self.guard,
            Mode::GuardUnbounded => &mut self.unbounded,
        }
    }
}
