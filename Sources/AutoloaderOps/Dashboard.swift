import AutoloaderCore
import Foundation
import Hummingbird
import NIOCore

/// The dashboard at `/`: one server-rendered page (no script to build; a few lines of inline script only for the
/// pause/resume buttons, which must send the token). It refreshes itself every 10 s.
struct Dashboard: Sendable {
    let access: CatalogAccess
    let changesEnabled: Bool

    /// Everything the page shows, read in one visit to the catalog.
    struct Snapshot: Sendable {
        var tables: [API.TableView]
        var loads: [LoadRecord]
        var problems: [(load: LoadRecord, errors: [LoadErrorRecord])]
        var failedFiles: [FileRecord]
        var changes: [SchemaChange]
        var held: [FileRecord]
    }

    func page(tables: [API.TableView]) async throws -> Response {
        let snapshot = try await access.run { catalog in
            let loads = Array(try catalog.loads(table: nil, status: nil).suffix(50).reversed())
            var problems: [(LoadRecord, [LoadErrorRecord])] = []
            for load in loads where load.status == .failed || load.rowsRejected > 0 || load.error != nil {
                problems.append((load, Array(try catalog.errors(loadID: load.id).prefix(20))))
                if problems.count == 10 { break }
            }
            let failed = Array(try catalog.files(table: nil, state: .failed).suffix(20).reversed())
            var changes: [SchemaChange] = []
            for table in tables { changes += try catalog.schemaHistory(table: table.name) }
            changes.sort { $0.at > $1.at }
            return Snapshot(tables: tables, loads: loads, problems: problems, failedFiles: failed, changes: Array(changes.prefix(30)),
                            held: try catalog.files(table: nil, state: .held))
        }
        let html = render(snapshot, now: WallClock.nowNanos())
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func render(_ s: Snapshot, now: Int64) -> String {
        var h = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>autoloader</title>
        <meta http-equiv="refresh" content="10">
        <style>
        body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
        h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd;vertical-align:top}
        th{background:#f4f4f4}.num{text-align:right}.failed,.aborted{color:#b00020}.paused{color:#a60}.finished{color:#176b2c}
        .bar{background:#6a8fd8;height:.7em;display:inline-block}code{font-size:.9em;white-space:pre-wrap}
        </style></head><body>
        <h1>autoloader</h1>
        """
        h += "<p id=\"summary\">\(s.tables.count) table(s), \(s.tables.reduce(0) { $0 + $1.backlogFiles }) file(s) pending, "
            + "\(s.failedFiles.count) failed file(s) shown below. Updated \(esc(WallClock.nowISO())).</p>\n"
        if changesEnabled {
            h += "<p><label>API token <input type=\"password\" id=\"token\" size=\"30\"></label> (needed by Pause and Resume)</p>\n"
        }

        h += "<h2>Tables</h2>\n<table id=\"tables\"><tr><th>table</th><th>status</th><th class=num>pending files</th><th class=num>pending bytes</th>"
            + "<th>oldest pending</th><th>last load</th><th>lag</th><th class=num>rows today</th>\(changesEnabled ? "<th></th>" : "")</tr>\n"
        for t in s.tables {
            let oldest = t.oldestPendingDiscoveredAt.flatMap(WallClock.parseNanos)
            let last = t.lastLoad
            let lastEnd = last.flatMap { $0.finishedAt ?? $0.startedAt }.flatMap(WallClock.parseNanos)
            h += "<tr data-table=\"\(esc(t.name))\"><td>\(esc(t.name))</td><td class=\"\(esc(t.status))\">\(esc(t.status))</td>"
                + "<td class=num>\(t.backlogFiles)</td><td class=num>\(bytes(t.backlogBytes))</td>"
                + "<td>\(oldest.map { ago(now - $0) } ?? "–")</td>"
                + "<td>\(last.map { "#\($0.id) <span class=\"\(esc($0.status.rawValue))\">\(esc($0.status.rawValue))</span> \(lastEnd.map { ago(now - $0) } ?? "")" } ?? "never")</td>"
                + "<td>\(oldest.map { ago(now - $0).replacingOccurrences(of: " ago", with: "") } ?? "none")</td>"
                + "<td class=num>\(t.rowsLoadedToday)</td>"
            if changesEnabled {
                let action = t.status == TableStatus.paused.rawValue ? "resume" : "pause"
                h += "<td><button data-table=\"\(esc(t.name))\" data-action=\"\(action)\" onclick=\"act(this)\">\(action == "pause" ? "Pause" : "Resume")</button></td>"
            }
            h += "</tr>\n"
        }
        h += "</table>\n"

        let longest = max(0.001, s.loads.map { duration($0) ?? 0 }.max() ?? 0)
        h += "<h2>Loads</h2>\n<table id=\"loads\"><tr><th>load</th><th>table</th><th>started</th><th>status</th><th class=num>files</th>"
            + "<th class=num>rows</th><th class=num>rejected</th><th>duration</th></tr>\n"
        for load in s.loads {
            let seconds = duration(load)
            h += "<tr><td>#\(load.id)</td><td>\(esc(load.table))</td><td>\(esc(load.startedAt))</td>"
                + "<td class=\"\(esc(load.status.rawValue))\">\(esc(load.status.rawValue))</td><td class=num>\(load.files.count)</td>"
                + "<td class=num>\(load.rowsLoaded)</td><td class=num>\(load.rowsRejected)</td>"
                + "<td>\(seconds.map { "<span class=bar style=\"width:\(Int(max(1, 200 * $0 / longest)))px\"></span> \(String(format: "%.2f", $0)) s" } ?? "")</td></tr>\n"
        }
        h += "</table>\n"

        h += "<h2>Problems</h2>\n<div id=\"problems\">\n"
        if s.problems.isEmpty && s.failedFiles.isEmpty { h += "<p>None.</p>\n" }
        for (load, errors) in s.problems {
            h += "<h3>load #\(load.id) of \(esc(load.table)): \(esc(load.status.rawValue)), \(load.rowsRejected) row(s) rejected</h3>\n"
            if let error = load.error { h += "<p><code>\(esc(error))</code></p>\n" }
            if !errors.isEmpty {
                h += "<table class=\"rejected\"><tr><th>file</th><th class=num>line</th><th>column</th><th>raw text</th><th>reason</th></tr>\n"
                for e in errors {
                    h += "<tr><td>\(esc(e.file))</td><td class=num>\(e.line.map(String.init) ?? "")</td><td>\(esc(e.column ?? ""))</td>"
                        + "<td><code>\(esc(String(e.rawText.prefix(200))))</code></td><td>\(esc(e.reason))</td></tr>\n"
                }
                h += "</table>\n"
            }
        }
        if !s.failedFiles.isEmpty {
            h += "<h3>failed files</h3>\n<table id=\"failed-files\"><tr><th>file</th><th>table</th><th>load</th><th>why</th></tr>\n"
            for f in s.failedFiles {
                h += "<tr><td>\(esc(f.key))</td><td>\(esc(f.table))</td><td>\(f.loadID.map { "#\($0)" } ?? "")</td><td>\(esc(f.error ?? ""))</td></tr>\n"
            }
            h += "</table>\n"
        }
        h += "</div>\n"

        h += "<h2>Held schema changes</h2>\n<table id=\"held\"><tr><th>table</th><th>file</th><th>proposed change</th>\(changesEnabled ? "<th></th>" : "")</tr>\n"
        for f in s.held {
            h += "<tr><td>\(esc(f.table))</td><td>\(esc(f.key))</td><td>\(esc(f.error ?? ""))</td>"
            if changesEnabled {
                h += "<td><button data-table=\"\(esc(f.table))\" data-action=\"approve\" onclick=\"act(this)\">Approve</button> "
                    + "<button data-table=\"\(esc(f.table))\" data-action=\"reject\" onclick=\"act(this)\">Reject</button></td>"
            }
            h += "</tr>\n"
        }
        if s.held.isEmpty { h += "<tr><td colspan=3>None.</td></tr>\n" }
        h += "</table>\n"

        h += "<h2>Schema changes</h2>\n<table id=\"schema-changes\"><tr><th>at</th><th>table</th><th>load</th><th>change</th></tr>\n"
        for c in s.changes {
            h += "<tr><td>\(esc(c.at))</td><td>\(esc(c.table))</td><td>\(c.loadID.map { "#\($0)" } ?? "")</td><td><code>\(esc(c.change))</code></td></tr>\n"
        }
        if s.changes.isEmpty { h += "<tr><td colspan=4>None.</td></tr>\n" }
        h += "</table>\n"
        if changesEnabled {
            h += """
            <script>
            const saved = sessionStorage.getItem('autoloader-token'); if (saved) document.getElementById('token').value = saved;
            async function act(button) {
              const table = button.dataset.table, action = button.dataset.action;
              const token = document.getElementById('token').value; sessionStorage.setItem('autoloader-token', token);
              const r = await fetch('/api/v1/tables/' + encodeURIComponent(table) + '/' + action, {method: 'POST', headers: {Authorization: 'Bearer ' + token}});
              if (!r.ok) { alert((await r.json()).error); return; }
              location.reload();
            }
            </script>

            """
        }
        h += "</body></html>\n"
        return h
    }

    func duration(_ load: LoadRecord) -> Double? {
        guard let start = WallClock.parseNanos(load.startedAt), let end = load.finishedAt.flatMap(WallClock.parseNanos) else { return nil }
        return max(0, Double(end - start) / 1e9)
    }

    func ago(_ nanos: Int64) -> String {
        let s = max(0, nanos / 1_000_000_000)
        if s < 60 { return "\(s) s ago" }
        if s < 3600 { return "\(s / 60) min ago" }
        if s < 86_400 { return "\(s / 3600) h \(s % 3600 / 60) min ago" }
        return "\(s / 86_400) d ago"
    }

    func bytes(_ n: Int64) -> String {
        if n < 1 << 10 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
        return String(format: "%.1f GiB", Double(n) / 1_073_741_824)
    }

    func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
