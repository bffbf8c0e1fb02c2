import AutoloaderPipeline
import Testing

/// The scheduler and the retry policy are pure: these run without a database, on a clock of our own.
@Suite struct SchedulerTests {
    @Test func retryPolicyGrowsToItsCapWithJitter() {
        let p = RetryPolicy.loads
        #expect(p.delay(afterFailures: 1, jitter: 1) == 2)
        #expect(p.delay(afterFailures: 1, jitter: 0) == 1)
        #expect(p.delay(afterFailures: 4, jitter: 1) == 16)
        // Minutes, not seconds: a long outage is retried every 5 minutes at most, never in a storm.
        #expect(p.delay(afterFailures: 9, jitter: 1) == 300)
        #expect(p.delay(afterFailures: 60, jitter: 1) == 300)
        #expect(p.delay(afterFailures: 60, jitter: 0) == 150)
        #expect(!p.givesUp(afterFailures: 1_000))
        #expect(RetryPolicy(first: 1, cap: 2, maxAttempts: 3).givesUp(afterFailures: 3))
        // Reconnecting backs off too (it once retried 33 times a second).
        let total = (1...10).map { RetryPolicy.connect.delay(afterFailures: $0, jitter: 0) }.reduce(0, +)
        #expect(total > 60)
    }

    @Test func oneLoadPerTableAndAtMostWorkers() {
        var s = Scheduler(workers: 2)
        #expect(s.start(from: ["a", "b", "c"], now: 0) == ["a", "b"])
        #expect(s.start(from: ["a", "b", "c"], now: 0) == [])
        s.finished("a", .done, now: 1, jitter: 0)
        // c is next; a is not started twice while b runs.
        #expect(s.start(from: ["a", "b", "c"], now: 1) == ["a"])
        s.finished("a", .done, now: 1, jitter: 0)
        #expect(s.start(from: ["c", "a"], now: 1) == ["c"])
    }

    @Test func aFailingTableBacksOffWhileOthersLoad() {
        var s = Scheduler(workers: 2)
        #expect(s.start(from: ["slow", "fast"], now: 0) == ["slow", "fast"])
        let retry = s.finished("slow", .transient, now: 0, jitter: 1)
        #expect(retry?.delay == 2)
        s.finished("fast", .done, now: 0, jitter: 0)
        #expect(s.start(from: ["slow", "fast"], now: 1) == ["fast"])
        #expect(s.nextWake(after: 1) == 2)
        s.finished("fast", .done, now: 1, jitter: 0)
        #expect(s.start(from: ["slow"], now: 2.5) == ["slow"])
        // A second failure waits longer; a success clears the backoff.
        #expect(s.finished("slow", .transient, now: 2.5, jitter: 1)?.delay == 4)
        #expect(s.failures(of: "slow") == 2)
        #expect(s.start(from: ["slow"], now: 7) == ["slow"])
        s.finished("slow", .done, now: 7, jitter: 0)
        #expect(s.failures(of: "slow") == 0)
        #expect(s.nextWake(after: 7) == nil)
    }

    /// Another load holding the table (or SQLite's one writer) is not a fault: a short fixed wait, no backoff.
    @Test func contentionRetriesSoonWithoutBackoff() {
        var s = Scheduler(workers: 1)
        #expect(s.start(from: ["t"], now: 0) == ["t"])
        #expect(s.finished("t", .contention, now: 0, jitter: 1)?.delay == 1)
        #expect(s.failures(of: "t") == 0)
        #expect(s.start(from: ["t"], now: 0.5) == [])
        #expect(s.start(from: ["t"], now: 1) == ["t"])
        #expect(s.finished("t", .contention, now: 1, jitter: 1)?.givesUp == false)
    }
}
