import Foundation
import Vapor

/// What is wrong with one row of a bulk request. `index` counts data rows from 0 (in a CSV, line `index + 2`).
struct RowError: Codable, Sendable, Equatable {
    let index: Int
    let field: String?
    let message: String

    private enum CodingKeys: String, CodingKey { case index, field, message }

    /// `field` is written as null when the problem is the row as a whole, never left out.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(index, forKey: .index)
        try container.encode(field, forKey: .field)
        try container.encode(message, forKey: .message)
    }
}

/// `?mode=`: `all_or_nothing` (the default) writes nothing when any row is wrong; `partial` writes the good rows.
enum BulkMode: String, CaseIterable, Sendable {
    case allOrNothing = "all_or_nothing"
    case partial
}

enum BulkAction: String, Codable, Sendable {
    case created, updated, assigned, unassigned, unchanged
}

struct BulkRowResult: Codable, Sendable, Equatable {
    let index: Int
    let id: UUID
    let action: BulkAction
}

/// The answer to a bulk request that wrote: per-row results, and in partial mode the rows left out.
struct BulkResultDTO: Encodable, Sendable {
    let mode: String
    let received: Int
    let written: Int
    let failed: Int
    let results: [BulkRowResult]
    let errors: [RowError]
}

enum BulkLimits {
    static let agents = 5_000
    static let members = 1_000
    static let assignments = 5_000
    /// A 1 MiB body holds at most this many JSON values worth reading.
    static let jsonValues = 200_000
}

/// One input row, from a JSON object or a CSV record, read field by field. Every problem is collected rather than
/// thrown, so one answer lists every bad cell of a file. Empty CSV cells and absent JSON fields read as absent.
struct BulkRow: Sendable {
    enum Cells: Sendable {
        case json([String: JSONValue])
        case csv([String: String])
    }

    let index: Int
    let cells: Cells
    private(set) var errors: [RowError] = []

    init(index: Int, cells: Cells) {
        self.index = index
        self.cells = cells
    }

    mutating func fail(_ field: String?, _ message: String) {
        errors.append(RowError(index: index, field: field, message: message))
    }

    /// Reports fields the row should not have.
    mutating func rejectUnknown(allowed: Set<String>) {
        let names: [String] = switch cells {
        case .json(let object): Array(object.keys)
        case .csv(let record): record.filter { !$0.value.isEmpty }.map(\.key)
        }
        for name in names.sorted() where !allowed.contains(name) {
            fail(name, "unknown field '\(name)'; known fields: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    private mutating func raw(_ field: String) -> JSONValue? {
        switch cells {
        case .json(let object):
            guard let value = object[field] else { return nil }
            if value == .null { fail(field, "must not be null; leave it out instead"); return nil }
            return value
        case .csv(let record):
            guard let text = record[field], !text.isEmpty else { return nil }
            return .string(text)
        }
    }

    private var isCSV: Bool { if case .csv = cells { true } else { false } }

    /// Runs a validation from `Check`, recording its 400 message against the field.
    private mutating func checked<T>(_ field: String, _ check: () throws -> T) -> T? {
        do { return try check() } catch let error as AppError {
            fail(field, error.message)
        } catch {
            fail(field, "is invalid")
        }
        return nil
    }

    mutating func text(_ field: String, required: Bool = false, _ check: (String) throws -> String) -> String? {
        guard let value = raw(field) else {
            if required { fail(field, "\(field) is required") }
            return nil
        }
        guard let text = value.stringValue else { fail(field, "\(field) must be a string"); return nil }
        return checked(field) { try check(text) }
    }

    mutating func integer(_ field: String, _ check: (Int) throws -> Int) -> Int? {
        guard let value = raw(field) else { return nil }
        let number: Int? = isCSV ? value.stringValue.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } : value.intValue
        guard let number else { fail(field, "\(field) must be a whole number"); return nil }
        return checked(field) { try check(number) }
    }

    mutating func decimal(_ field: String, _ check: (Double) throws -> Double) -> Double? {
        guard let value = raw(field) else { return nil }
        let number: Double? = isCSV ? value.stringValue.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } : value.numberValue
        guard let number else { fail(field, "\(field) must be a number"); return nil }
        return checked(field) { try check(number) }
    }

    /// A list: a JSON array of strings, or in CSV one cell with the items separated by `;` or `|`.
    mutating func list(_ field: String, _ check: ([String]) throws -> [String]) -> [String]? {
        guard let value = raw(field) else { return nil }
        let items: [String]?
        if isCSV {
            items = value.stringValue.map { $0.split(whereSeparator: { $0 == ";" || $0 == "|" }).map { $0.trimmingCharacters(in: .whitespaces) } }
        } else {
            items = value.arrayValue.flatMap { values in
                let strings = values.compactMap(\.stringValue)
                return strings.count == values.count ? strings : nil
            }
        }
        guard let items else { fail(field, "\(field) must be a list of strings"); return nil }
        return checked(field) { try check(items) }
    }

    /// Per-channel limits: a JSON object of whole numbers, or in CSV one cell such as `voice=1;webchat=3` (an empty
    /// cell leaves them as they are).
    mutating func channelLimits(_ field: String) -> [CallChannel: Int]? {
        guard let limits = wholeNumbers(field, example: "voice=1;webchat=3") else { return nil }
        return checked(field) { try AgentLimits.channelCapacity(limits) }
    }

    /// Skill levels: a JSON object of whole numbers, or in CSV one cell such as `french=3;billing=4`; checked by
    /// the caller against the agent's capabilities.
    mutating func levels(_ field: String) -> [String: Int]? {
        guard let levels = wholeNumbers(field, example: "french=3;billing=4") else { return nil }
        return checked(field) { try SkillLevel.validated(levels, field, maxCount: AgentLimits.capabilityCount) }
    }

    /// Names with whole numbers: a JSON object, or a CSV cell of `name=number` pairs separated by `;` or `|`.
    private mutating func wholeNumbers(_ field: String, example: String) -> [String: Int]? {
        guard let value = raw(field) else { return nil }
        var numbers: [String: Int]? = [:]
        if isCSV {
            for part in (value.stringValue ?? "").split(whereSeparator: { $0 == ";" || $0 == "|" }) {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, let number = Int(pair[1]) else { numbers = nil; break }
                numbers?[pair[0]] = number
            }
        } else if let object = value.objectValue {
            for (name, number) in object {
                guard let whole = number.intValue else { numbers = nil; break }
                numbers?[name] = whole
            }
        } else {
            numbers = nil
        }
        guard let numbers else {
            fail(field, isCSV ? "\(field) must read like \(example)" : "\(field) must be an object of whole numbers")
            return nil
        }
        return numbers
    }

    /// Where the agent answers phone calls: a JSON object (`{}` removes it), or in CSV one cell, `sip:…`,
    /// `client:…` or an E.164 number (an empty cell leaves it as it is).
    mutating func contact(_ field: String) -> Settable<AgentContact>.Change {
        guard let value = raw(field) else { return .unchanged }
        let contact: AgentContact??
        if isCSV {
            contact = checked(field) { try AgentContact.validated(cell: value.stringValue ?? "") }
        } else if let object = value.objectValue {
            contact = checked(field) { try AgentContact.validated(object) }
        } else {
            fail(field, "\(field) must be an object with sip, client or phone")
            return .unchanged
        }
        // Nil: refused (the error is recorded); an empty JSON object removes the contact.
        guard let contact else { return .unchanged }
        return contact.map { .set($0) } ?? .cleared
    }

    /// A CSV capabilities cell may give levels inline, `french=3;vip` (JSON rows give `capability_levels`).
    mutating func capabilities(_ field: String, levels: inout [String: Int]) -> [String]? {
        let inline = isCSV
        var found: [String: Int] = [:]
        let names = list(field) { items in
            let (names, levels) = inline ? try SkillLevel.parseCell(items) : (items, [:])
            found = try SkillLevel.validated(levels, field, maxCount: AgentLimits.capabilityCount)
            return try Check.labels(names, field, maxCount: AgentLimits.capabilityCount, maxLength: AgentLimits.capabilityLength)
        }
        levels.merge(found) { _, inline in inline }
        return names
    }

    mutating func identifier(_ field: String, required: Bool = true) -> UUID? {
        guard let value = raw(field) else {
            if required { fail(field, "\(field) is required") }
            return nil
        }
        guard let id = value.stringValue.flatMap({ UUID(text: $0.trimmingCharacters(in: .whitespaces)) }) else {
            fail(field, "\(field) must be a UUID")
            return nil
        }
        return id
    }
}

/// The rows of a bulk body: JSON (`{"<list>": [ {…}, … ]}`) or, where the route takes it, `text/csv` with a header.
enum BulkInput {
    /// `columns`: the fields a row may have; a CSV header naming anything else is refused before any row is read.
    static func rows(of req: Request, list: String, columns: Set<String>, maxRows: Int) async throws -> [BulkRow] {
        let rows = try await readRows(of: req, list: list, columns: columns, maxRows: maxRows)
        guard !rows.isEmpty else { throw AppError.badRequest("\(list) must list at least one row") }
        return rows
    }

    private static func readRows(of req: Request, list: String, columns: Set<String>, maxRows: Int) async throws -> [BulkRow] {
        let isCSV = req.headers.contentType.map { $0.type == "text" && $0.subType == "csv" } ?? false
        if isCSV {
            guard let body = req.body.data, body.readableBytes > 0 else { throw AppError.badRequest("a CSV body is required") }
            guard let text = String(data: Data(buffer: body), encoding: .utf8) else {
                throw AppError.badRequest("the CSV must be UTF-8 text")
            }
            do {
                // Off the event loop and the shared executor: a megabyte of CSV is the largest body we read.
                let table = try await req.application.threadPool.runIfActive(eventLoop: req.eventLoop) {
                    try CSVTable.parse(text, maxRows: maxRows)
                }.get()
                if let unknown = table.header.first(where: { !columns.contains($0) }) {
                    throw AppError.badRequest("the CSV header names an unknown column '\(unknown)'; known columns: \(columns.sorted().joined(separator: ", "))")
                }
                return table.rows.enumerated().map { BulkRow(index: $0.offset, cells: .csv($0.element)) }
            } catch let error as CSVTable.ParseError {
                throw AppError.badRequest("the CSV cannot be read: \(error.message)")
            }
        }
        let object = try await req.decodeBody([String: JSONValue].self, maxValues: BulkLimits.jsonValues)
        if let unknown = object.keys.sorted().first(where: { $0 != list }) {
            throw AppError.badRequest("unknown field '\(unknown)'; the body is {\"\(list)\": [ … ]}")
        }
        guard let items = object[list]?.arrayValue else {
            throw AppError.badRequest("\(list) is required: a list of rows")
        }
        guard items.count <= maxRows else { throw AppError.badRequest("at most \(maxRows) rows in one request") }
        return try items.enumerated().map { index, item in
            guard let fields = item.objectValue else { throw AppError.badRequest("\(list)[\(index)] must be an object") }
            return BulkRow(index: index, cells: .json(fields))
        }
    }

    static func mode(of req: Request) throws -> BulkMode {
        try QueryParameters(req).oneOf("mode", as: BulkMode.self) ?? .allOrNothing
    }

    /// In all-or-nothing mode, any bad row refuses the request with every row's errors.
    static func refuseIfNeeded(_ errors: [RowError], mode: BulkMode, received: Int) throws {
        guard mode == .allOrNothing, !errors.isEmpty else { return }
        let rows = Set(errors.map(\.index)).count
        var error = AppError.badRequest("\(rows) of \(received) rows are invalid; nothing was written (see row_errors, or send ?mode=partial to write the valid rows)")
        error.rowErrors = errors.sorted { ($0.index, $0.field ?? "") < ($1.index, $1.field ?? "") }
        throw error
    }
}
