//! What `cargo bench --bench guard` prints: the tables, the ratios, the goals.

use super::*;
use crate::support::{median, ms, stats, verdict, Stats, Table};

// ---- statistics and the report ------------------------------------------------------------

/// Milliseconds with three decimals.
pub(crate) const TABLE: Table = Table { label: 48, n: 5, bound: 14, decimals: 3 };

pub(crate) fn latency_row(label: &str, s: &Option<Stats>, bound: Option<f64>, bound_text: &str) {
    TABLE.row(label, s, bound, bound_text)
}

pub(crate) fn mps(rate: f64) -> String {
    format!("{:.3} M", rate / 1e6)
}

/// Prints the row; returns the median rate and the median CPU ns per message.
pub(crate) fn throughput_row(label: &str, runs: &[RunResult]) -> (f64, f64) {
    let mut rates: Vec<f64> = runs.iter().map(RunResult::rate).collect();
    let med = median(&mut rates);
    let (min, max) = (rates.first().copied().unwrap_or(0.0), rates.last().copied().unwrap_or(0.0));
    let delivered: u64 = runs.iter().map(|r| r.delivered).sum();
    let messages: u64 = runs.iter().map(|r| r.messages).sum();
    let shed: u64 = runs.iter().map(|r| r.shed).sum();
    let guard_shed: u64 = runs.iter().map(|r| r.guard_shed).sum();
    let guard_passed: u64 = runs.iter().map(|r| r.guard_passed).sum();
    let stalls: u64 = runs.iter().map(|r| r.stalls).sum();
    let each: Vec<String> = runs.iter().map(|r| format!("{:.2}", r.rate() / 1e6)).collect();
    let mut cpu: Vec<f64> = runs.iter().map(RunResult::cpu_ns).collect();
    let cpu = median(&mut cpu);
    println!(
        "{label:<48} {:>10} {:>10} {:>10} {cpu:>8.0}  {delivered:>9}/{messages:<9} {:>13}",
        mps(med),
        mps(min),
        mps(max),
        if label.starts_with("raw") { "-".into() } else { format!("{shed}/{guard_shed}") },
    );
    if !label.starts_with("raw") {
        println!(
            "{:<48} guard counters: passed {guard_passed}, shed {guard_shed}; window stalls (A yielded) {stalls}; \
             each run (M/s, in order) {}",
            "",
            each.join(", ")
        );
    } else {
        println!("{:<48} each run (M/s, in order) {}", "", each.join(", "));
    }
    (med, cpu)
}

pub(crate) fn report(
    config: Config,
    throughput: &Throughput,
    quiet: &OrderPhase,
    flood: &FloodPhase,
    still_connected: bool,
    total: Duration,
    machine: &Machine,
) {
    let mut verdicts: Vec<(String, bool, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    println!();
    println!(
        "1. Throughput, delivered messages per second (M = 10^6/s); N = {} per run, {} rounds interleaved \
         raw/guard/no-bp",
        config.messages, config.rounds
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>8}  {:>19} {:>13}",
        "pipeline", "median", "min", "max", "CPU ns", "delivered/offered", "shed A/G"
    );
    println!("{}", "-".repeat(124));
    let (raw, raw_cpu) = throughput_row("raw ractor: producer -> A -> B", &throughput.raw);
    let (guarded, guard_cpu) = throughput_row("guard: A -> send_tick -> pump -> sink -> B", &throughput.guard);
    throughput_row("guard, no backpressure (informational)", &throughput.unbounded);
    println!("{}", "-".repeat(124));
    // The verdict uses the median of the per-round ratios: a raw run and the guard run right after
    // it share the machine's conditions (other processes, frequency), which drift between rounds.
    let mut paired: Vec<f64> = throughput
        .raw
        .iter()
        .zip(&throughput.guard)
        .map(|(r, g)| if r.rate() > 0.0 { g.rate() / r.rate() } else { 0.0 })
        .collect();
    let paired_text: Vec<String> = paired.iter().map(|p| format!("{:.1}", p * 100.0)).collect();
    let ratio = median(&mut paired);
    let ratio_of_medians = if raw > 0.0 { guarded / raw } else { 0.0 };
    let complete = throughput.guard.iter().all(|r| {
        !r.timed_out && r.delivered == r.messages && r.shed == 0 && r.guard_shed == 0 && r.guard_passed == r.messages
    }) && throughput.raw.iter().all(|r| !r.timed_out && r.delivered == r.messages);
    println!(
        "guard / raw per round (%): {}; median {:.1} % (goal >= {:.0} %); ratio of the medians {:.1} %",
        paired_text.join(", "),
        ratio * 100.0,
        THROUGHPUT_GOAL * 100.0,
        ratio_of_medians * 100.0
    );
    let mut paired_unbounded: Vec<f64> = throughput
        .raw
        .iter()
        .zip(&throughput.unbounded)
        .map(|(r, u)| if r.rate() > 0.0 { u.rate() / r.rate() } else { 0.0 })
        .collect();
    println!(
        "without backpressure the guard delivered {:.1} % of raw (median per-round ratio) and shed {:.1} % of what A \
         offered",
        median(&mut paired_unbounded) * 100.0,
        {
            let offered: u64 = throughput.unbounded.iter().map(|r| r.messages).sum();
            let shed: u64 = throughput.unbounded.iter().map(|r| r.shed).sum();
            shed as f64 / offered.max(1) as f64 * 100.0
        }
    );
    if raw_cpu > 0.0 && guard_cpu > 0.0 {
        println!(
            "CPU per message: raw {raw_cpu:.0} ns, guard {guard_cpu:.0} ns: the guard path costs {:.0} ns more \
             (+{:.0} %); raw/guard CPU = {:.1} % (the rate ratio tends to this when both pipelines keep the cores busy)",
            guard_cpu - raw_cpu,
            (guard_cpu / raw_cpu - 1.0) * 100.0,
            raw_cpu / guard_cpu * 100.0
        );
    }
    if !complete {
        notes.push(
            "throughput: a raw or guard run did not deliver every message, shed some, or timed out (see rows)".into(),
        );
    }
    let skipped: u64 = throughput.guard.iter().chain(&throughput.unbounded).map(|r| r.guard_skipped).sum();
    if skipped > 0 {
        notes.push(format!("throughput: {skipped} ticks skipped by the gate (account not usable during a run)"));
    }
    verdicts.push((
        "guard throughput >= 75 % of raw ractor A -> B".into(),
        complete && ratio >= THROUGHPUT_GOAL,
        format!("{:.1} % (median per-round ratio; {} vs {} msg/s medians)", ratio * 100.0, mps(guarded), mps(raw)),
    ));

    println!();
    println!(
        "2. Order latency through Guard::place_order, {} orders per phase, one at a time, 30-40 ms apart (under IB's message rate) (ms)",
        config.orders
    );
    println!("{:<48} {:>5} {:>9} {:>9} {:>9} {:>9}   {:<14}", "measurement", "n", "p50", "p90", "p99", "max", "bound");
    println!("{}", "-".repeat(124));
    println!("Without a flood (baseline)");
    latency_row("  place_order -> Sent (on the sink)", &stats(&ms(&quiet.sent)), None, "");
    latency_row("  place_order -> Sent (seen by the waiting task)", &stats(&ms(&quiet.sent_seen)), None, "");
    latency_row("  place_order -> Open (gateway ack over TCP)", &stats(&ms(&quiet.open)), None, "");
    println!(
        "With {} flood task(s) offering ticks for {ACCOUNT} as fast as they can (queue saturated)",
        flood.flooders
    );
    let sent_flood = stats(&ms(&flood.orders.sent));
    latency_row(
        "  place_order -> Sent (on the sink)",
        &sent_flood,
        Some(SENT_P99_GOAL_MS),
        &format!("p99 <= {SENT_P99_GOAL_MS} ms"),
    );
    latency_row("  place_order -> Sent (seen by the waiting task)", &stats(&ms(&flood.orders.sent_seen)), None, "");
    latency_row("  place_order -> Open (gateway ack over TCP)", &stats(&ms(&flood.orders.open)), None, "");
    println!("{}", "-".repeat(124));
    let secs = flood.duration.as_secs_f64();
    println!(
        "flood over {:.2} s: offered {} ({} /s), accepted into the queue {}, guard counters: passed {} ({} /s), \
         shed {} ({:.1} % of offered), skipped {}; the flood sink received {}; {} shed before the first order",
        secs,
        flood.offered,
        mps(flood.offered as f64 / secs),
        flood.accepted,
        flood.passed,
        mps(flood.passed as f64 / secs),
        flood.shed,
        flood.shed as f64 / flood.offered.max(1) as f64 * 100.0,
        flood.skipped,
        flood.delivered,
        flood.shed_at_first_order
    );
    for (name, phase) in [("baseline", quiet), ("flood", &flood.orders)] {
        println!(
            "{name} phase: {} orders in {:.2} s; refused {}, failed {}, without Sent/Open in {EVENT_DEADLINE:?} {}",
            config.orders,
            phase.elapsed.as_secs_f64(),
            phase.refused.len(),
            phase.failed.len(),
            phase.missing
        );
        if let Some(reason) = phase.refused.first() {
            notes.push(format!("{name}: first refusal: {reason}"));
        }
        if let Some(error) = phase.failed.first() {
            notes.push(format!("{name}: first failure: {error}"));
        }
    }
    let saturated = flood.shed > 0 && flood.shed_at_first_order > 0;
    if !saturated {
        notes.push("flood: the queue was not saturated (no ticks shed) — the flood did not load the guard".into());
    }
    let orders_ok = flood.orders.refused.is_empty()
        && flood.orders.failed.is_empty()
        && flood.orders.missing == 0
        && flood.orders.sent.len() == config.orders;
    let p99 = sent_flood.as_ref().map(|s| s.p99);
    verdicts.push((
        "order place_order -> Sent p99 <= 1 ms under the flood".into(),
        orders_ok && saturated && p99.is_some_and(|v| v <= SENT_P99_GOAL_MS),
        format!("{} ms", p99.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())),
    ));

    println!();
    println!("What is measured:");
    println!(
        "  throughput: from the producer's first send to A until B has counted the last message (B's own \
         Instant). Each message is a Tick {{ account, Price {{ tick_type, price, size }} }} built by the producer \
         (same in every mode). In the guard row A keeps at most TICK_QUEUE ({TICK_QUEUE}) ticks between its \
         send_tick and the pump (the sink counts what the pump hands it), yielding when the window is used up, so \
         the queue never overflows: 'shed A/G' is what A saw refused / what the guard counted as shed, both \
         must be 0 there. The no-backpressure row calls send_tick blindly; its rate counts delivered ticks only. \
         'CPU ns' is this process's CPU time (all threads, /proc/self/stat, 10 ms ticks) over the run divided by N \
         (median over the rounds): the work per message, less sensitive than the rate to how tokio happened to \
         spread the tasks over the two workers."
    );
    println!(
        "  order latency: Instant::now() just before guard.place_order(request) to Instant::now() inside the \
         order's sink when it is called with Sent (after ibapi's place_order wrote the order) and with \
         Open (ibapi's OpenOrder from the simulator). 'seen by the waiting task' adds the wake-up of the task \
         waiting on the sink's channel. Orders are placed one at a time (the next after the previous one's Open)."
    );
    if !still_connected {
        notes.push(format!("{ACCOUNT} was not connected at the end of the run"));
    }
    for note in &notes {
        println!("  NOTE {note}");
    }
    println!(
        "  CPU over the measurement: machine busy {:.1} s (of which hypervisor steal {:.1} s), this process {:.1} s: \
         {:.1} s were other processes'",
        machine.busy.as_secs_f64(),
        machine.steal.as_secs_f64(),
        machine.own.as_secs_f64(),
        machine.busy.saturating_sub(machine.own + machine.steal).as_secs_f64()
    );
    println!(
        "  total measuring time: {:.1} s; load average (1/5/15 min) at the end {} (other processes on these {} \
         cores disturb the throughput figures: compare rows of the same run only)",
        total.as_secs_f64(),
        loadavg(),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    println!();
    println!("Goals:");
    for (goal, pass, figure) in &verdicts {
        println!("  {:<4}  {goal:<52} {figure}", verdict(*pass));
    }
    let all = verdicts.iter().all(|v| v.1);
    println!(
        "Overall: {} (exit code is 0 regardless: this is a measurement)",
        if all { "all goals met" } else { "NOT all goals met" }
    );
}

pub(crate) fn report_silent(phase: Option<&silent::SilentPhase>) {
    println!();
    let Some(phase) = phase else {
        println!("3. Liveness gate: ABORTED, the phase's tree did not connect to the simulator within 5 s");
        return;
    };
    println!(
        "3. Liveness gate: orders.max_silence = {:?}; {} orders per row, one at a time (ms)",
        silent::MAX_SILENCE,
        phase.fresh.sent.len().max(phase.silent.sent.len())
    );
    println!("{:<48} {:>5} {:>9} {:>9} {:>9} {:>9}   {:<14}", "measurement", "n", "p50", "p90", "p99", "max", "bound");
    println!("{}", "-".repeat(124));
    let fresh = stats(&ms(&phase.fresh.sent));
    let quiet = stats(&ms(&phase.silent.sent));
    latency_row("  fresh link (30-40 ms apart): place -> Sent", &fresh, None, "");
    latency_row(&format!("  silent {:?} > max_silence: place -> Sent", silent::SILENT_GAP), &quiet, None, "");
    latency_row("  silent: place -> Open (gateway ack over TCP)", &stats(&ms(&phase.silent.open)), None, "");
    println!("{}", "-".repeat(124));
    if let (Some(fresh), Some(quiet)) = (fresh, quiet) {
        println!(
            "the probe first adds {:.3} ms at p50 and {:.3} ms at p99 (one reqCurrentTime round trip); \
             refused/failed/missing: fresh {}/{}/{}, silent {}/{}/{}",
            quiet.p50 - fresh.p50,
            quiet.p99 - fresh.p99,
            phase.fresh.refused.len(),
            phase.fresh.failed.len(),
            phase.fresh.missing,
            phase.silent.refused.len(),
            phase.silent.failed.len(),
            phase.silent.missing
        );
    }
}
