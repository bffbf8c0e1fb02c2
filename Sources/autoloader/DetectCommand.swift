import ArgumentParser
import AutoloaderCore
import AutoloaderDetection
import AutoloaderSQLite
import Foundation

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Show what detection decides for files: format, encoding, dialect, header, columns, CREATE TABLE."
    )
    @Argument(help: ArgumentHelp("Files to inspect.", valueName: "file")) var files: [String]
    @OptionGroup var output: OutputOptions
    @Option(help: "VARCHAR size in the PostgreSQL/Redshift DDL, as a factor over the longest value seen (the seed used 3).")
    var varcharFactor = TypeSpelling.defaultVarcharFactor

    func run() throws {
        let detections = files.map { Detector.detect(path: $0) }
        if output.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // One object per file (an array when several), without the loader-internal schema/dialect fields.
            let objects: [Any] = try detections.map { d in
                var object = try JSONSerialization.jsonObject(with: encoder.encode(d)) as? [String: Any] ?? [:]
                object.removeValue(forKey: "schema")
                object.removeValue(forKey: "dialect")
                return object
            }
            let value: Any = objects.count == 1 ? objects[0] : objects
            print(String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
            return
        }
        for d in detections {
            print("file:        \(d.file)")
            print("format:      \(d.format.rawValue)   compression: \(d.compression.rawValue)   encoding: \(d.encoding ?? "-")")
            if let error = d.error {
                print("verdict:     rejected — \(error)")
                print("")
                continue
            }
            switch d.format {
            case .csv:
                let delimiter = d.delimiter == "\t" ? "\\t" : (d.delimiter ?? "-")
                print("dialect:     delimiter '\(delimiter)'  quote \(d.quote.map { "'\($0)'" } ?? "none")  escape \(d.escape.map { "'\($0)'" } ?? "doubled quote")  line ending \(d.lineEnding ?? "-")\(d.trailingDelimiter == true ? "  trailing delimiter" : "")")
                print("header:      \(d.header == true ? "yes" : "no")   skipped lines: \(d.skipLines ?? 0)   rows: \(d.rows ?? 0)\(d.sampleComplete == true ? "" : " (in the sample)")\(d.badRows?.isEmpty == false ? "   bad rows at lines \(d.badRows!.map(String.init).joined(separator: ", "))" : "")")
            case .json:
                print("layout:      \(d.jsonLayout ?? "-")   rows: \(d.rows ?? 0)\(d.sampleComplete == true ? "" : " (in the sample)")")
            case .avro:
                print("avro:        codec \(d.avroCodec ?? "-")   rows: \(d.rows ?? 0)\(d.sampleComplete == true ? "" : " (in the sample)") (types from the header's schema)")
            default:
                print("parquet:     codec \(d.parquetCodec ?? "-")   rows: \(d.rows ?? 0) (from the footer; types from the declared schema)")
            }
            // Named as a table would hold them (`Order Date` → order_date), within PostgreSQL's 63 bytes, the smallest limit.
            var fitted = d.schema
            var noPartitions: [String: String] = [:]
            if fitted != nil { _ = ColumnNames.fit(columns: &fitted!.columns, partitions: &noPartitions, maxBytes: 63) }
            if let columns = fitted?.columns, let detected = d.columns {
                Output.table(["column", "type", "nullable", "null tokens", "sample", "in the file"], zip(columns, detected).map { c, dc in
                    [c.name, c.type.description, c.nullable ? "yes" : "no", dc.nullTokens.map { $0.isEmpty ? "(empty)" : $0 }.joined(separator: " "), dc.sample ?? "",
                     c.original ?? ""]
                })
            }
            if let scores = d.delimiterScores, !scores.isEmpty {
                print("evidence:    " + scores.prefix(4).map { "'\($0.delimiter == "\t" ? "\\t" : $0.delimiter)' \($0.columns) cols, \($0.consistentRows) consistent / \($0.inconsistentRows) not" }.joined(separator: "; "))
            }
            if let schema = fitted {
                let table = SQLIdentifier.tableName(fromFolder: URL(fileURLWithPath: d.file).deletingPathExtension().lastPathComponent)
                let typeName = SQLiteWarehouse.sqliteCapabilities.typeName
                let defs = schema.columns.map { "  \(SQLIdentifier.quoted($0.name)) \(typeName($0.type))" }
                print("\n-- SQLite\nCREATE TABLE \(SQLIdentifier.quoted(table)) (\n\(defs.joined(separator: ",\n"))\n);")
                for spelling in [TypeSpelling.postgres, TypeSpelling.redshift] {
                    print("\n-- \(spelling.name) (VARCHAR = \(varcharFactor)× the longest value)\n" + spelling.createTable(table, schema: schema, varcharFactor: varcharFactor))
                }
                print("")
            }
        }
    }
}
