import Foundation
import NIOCore
import Vapor

/// The two export formats, chosen by `Accept` (or `?format=` for a plain download link).
enum ExportFormat: String, Sendable, CaseIterable {
    case csv
    case ndjson

    var mediaType: String {
        switch self {
        case .csv: "text/csv; charset=utf-8"
        case .ndjson: "application/x-ndjson"
        }
    }

    /// `?format=csv|ndjson` wins; else the first of `Accept`'s types this service can write (`text/csv`,
    /// `application/x-ndjson`; `*/*`, `text/*` or no header mean CSV); anything else is a 406.
    static func negotiate(accept: String?, format: String?) throws -> ExportFormat {
        if let format {
            guard let chosen = ExportFormat(rawValue: format.lowercased()) else {
                throw AppError.badRequest("format must be csv or ndjson")
            }
            return chosen
        }
        guard let accept, !accept.trimmingCharacters(in: .whitespaces).isEmpty else { return .csv }
        let ranges = accept.split(separator: ",").map { range -> (type: String, quality: Double) in
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return (parts.first ?? "", quality)
        }
        for range in ranges.filter({ $0.quality > 0 }).sorted(by: { $0.quality > $1.quality }) {
            switch range.type {
            case "text/csv", "text/*", "*/*": return .csv
            case "application/x-ndjson", "application/ndjson": return .ndjson
            default: continue
            }
        }
        throw AppError(.notAcceptable, "exports are text/csv or application/x-ndjson")
    }

    func headers(filename: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.replaceOrAdd(name: .contentType, value: mediaType)
        headers.replaceOrAdd(name: .contentDisposition, value: "attachment; filename=\"\(filename).\(rawValue)\"")
        headers.replaceOrAdd(name: .cacheControl, value: "no-store")
        return headers
    }
}

/// One value of an exported row, written as a CSV cell or a JSON value.
enum ExportCell: Sendable {
    case text(String?)
    case number(Double?)
    case integer(Int?)
    case flag(Bool?)
    case time(Date?)
    case id(UUID?)
    case list([String])
    /// Named amounts: `name=value;…` in CSV (names sorted), an object in NDJSON.
    case amounts([String: Double])
}

/// RFC 4180 CSV (UTF-8, CRLF, a header row) and NDJSON (one object a line) from the same columns and cells.
enum ExportWriter {
    /// Characters that make a spreadsheet read a cell as a formula (OWASP's list): such a text cell gets a
    /// leading `'`, which spreadsheets show as text and never evaluate.
    private static let formulaStarts: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]

    /// Writes an export page by page: the CSV header, then each page's rows as one chunk, until a page comes back
    /// shorter than `pageSize`. `nextPage` gets the last row of the previous page (nil for the first).
    static func stream<Row>(
        columns: [String], format: ExportFormat, pageSize: Int, to write: StreamedBody.Write,
        nextPage: (_ after: Row?) async throws -> [Row], cells: (Row) -> [ExportCell]
    ) async throws {
        if format == .csv { try await write(ByteBuffer(string: csvHeader(columns))) }
        var last: Row? = nil
        while true {
            let rows = try await nextPage(last)
            var text = ""
            text.reserveCapacity(rows.count * 256)
            for row in rows {
                switch format {
                case .csv: appendCSV(cells(row), to: &text)
                case .ndjson: appendNDJSON(columns, cells(row), to: &text)
                }
            }
            try await write(ByteBuffer(string: text))
            guard rows.count == pageSize, let end = rows.last else { return }
            last = end
        }
    }

    static func csvHeader(_ columns: [String]) -> String {
        columns.map(csvField).joined(separator: ",") + "\r\n"
    }

    static func appendCSV(_ cells: [ExportCell], to out: inout String) {
        for (index, cell) in cells.enumerated() {
            if index > 0 { out += "," }
            switch cell {
            case .text(let text): if let text { out += csvField(guarded(text)) }
            case .number(let value): if let value, value.isFinite { out += value.description }
            case .integer(let value): if let value { out += String(value) }
            case .flag(let value): if let value { out += value ? "true" : "false" }
            case .time(let date): if let date { out += timestamp(date) }
            case .id(let id): if let id { out += id.text }
            case .list(let items): out += csvField(guarded(items.joined(separator: ";")))
            case .amounts(let amounts):
                out += csvField(guarded(amounts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")))
            }
        }
        out += "\r\n"
    }

    static func appendNDJSON(_ columns: [String], _ cells: [ExportCell], to out: inout String) {
        out += "{"
        for (index, (column, cell)) in zip(columns, cells).enumerated() {
            if index > 0 { out += "," }
            DecisionJSON.appendString(column, to: &out)
            out += ":"
            switch cell {
            case .text(let text): FastJSON.append(text, to: &out)
            case .number(let value): if let value { FastJSON.appendNumber(value, to: &out) } else { out += "null" }
            case .integer(let value): out += value.map(String.init) ?? "null"
            case .flag(let value): out += value.map { $0 ? "true" : "false" } ?? "null"
            case .time(let date): FastJSON.append(date, to: &out)
            case .id(let id): FastJSON.append(id, to: &out)
            case .list(let items):
                out += "["
                for (offset, item) in items.enumerated() {
                    if offset > 0 { out += "," }
                    DecisionJSON.appendString(item, to: &out)
                }
                out += "]"
            case .amounts(let amounts):
                out += "{"
                for (offset, (name, value)) in amounts.sorted(by: { $0.key < $1.key }).enumerated() {
                    if offset > 0 { out += "," }
                    DecisionJSON.appendString(name, to: &out)
                    out += ":"
                    FastJSON.appendNumber(value, to: &out)
                }
                out += "}"
            }
        }
        out += "}\n"
    }

    static func guarded(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, formulaStarts.contains(first) else { return text }
        return "'" + text
    }

    /// Quoted when it holds a comma, a quote or a line break; quotes doubled (RFC 4180 §2.6–2.7).
    static func csvField(_ text: String) -> String {
        // By scalar: "\r\n" is one Character, equal to neither "\r" nor "\n".
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else {
            return text
        }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func timestamp(_ date: Date) -> String {
        var quoted = ""
        FastJSON.appendDate(date, to: &quoted)
        return String(quoted.dropFirst().dropLast())
    }
}
