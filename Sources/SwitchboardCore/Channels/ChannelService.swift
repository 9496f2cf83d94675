import FluentKit
import Foundation

/// Channel configurations per tenant. Credentials are sealed before they reach the database and are never
/// returned, logged or audited (the audit says only that they changed).
struct ChannelService: Sendable {
    let store: Store
    let tenant: Tenant
    let cipher: CredentialCipher
    /// `SWITCHBOARD_PUBLIC_URL`: Twilio channels publish their webhook addresses from it, and need it to be active.
    var publicURL: String? = nil

    private var scope: TenantScope { tenant.scope }

    func list(type: CallChannel?, page: Page) async throws -> (channels: [ChannelDTO], total: Int) {
        var query = scope.query(ChannelRecord.self, on: store.db)
        if let type { query = query.filter(\.$type == type) }
        let total = try await query.copy().count()
        let rows = try await query.sort(\.$name).sort(\.$id).range(page.offset..<(page.offset + page.limit)).all()
        return (try rows.map { try ChannelDTO($0, publicURL: publicURL) }, total)
    }

    func get(_ id: UUID) async throws -> ChannelDTO {
        try ChannelDTO(try await scope.find(ChannelRecord.self, id, on: store.db), publicURL: publicURL)
    }

    func create(_ input: ChannelInput) async throws -> ChannelDTO {
        guard let rawType = input.type else { throw AppError.badRequest("type is required") }
        let type = try Check.oneOf(rawType, "type", as: CallChannel.self)
        guard let rawName = input.name else { throw AppError.badRequest("name is required") }
        let name = try Check.text(rawName, "name", length: 1...120)
        let status = try input.status.map { try Check.oneOf($0, "status", as: ActiveStatus.self) } ?? .active
        let config = try ChannelConfigSchema.validate(input.config ?? [:], for: type)
        let credentials = try credentialsToSeal(input.credentials)
        let route = try await routeTarget(input, current: (nil, nil))
        try checkTwilio(type: type, config: config, status: status, route: route, credentials: credentials)
        let scope = self.scope, tenant = self.tenant, cipher = self.cipher
        let record = try await store.write { db in
            try await Self.ensureNameIsFree(name, except: nil, scope: scope, on: db)
            let record = scope.owned(ChannelRecord())
            record.id = UUID()
            record.type = type
            record.name = name
            record.status = status
            record.config = JSONValue.object(config).canonicalText
            (record.teamId, record.sector) = route
            if let credentials {
                record.credentialsSealed = try cipher.seal(credentials, clientId: tenant.clientId, channelId: record.id!)
            }
            try await record.create(on: db)
            try await AuditLog.record("channel.create", "channel", id: record.id, by: tenant, on: db)
            if credentials != nil {
                try await AuditLog.record("channel.credentials_changed", "channel", id: record.id, by: tenant, on: db)
            }
            return record
        }
        return try ChannelDTO(record, publicURL: publicURL)
    }

    func update(_ id: UUID, with input: ChannelInput) async throws -> ChannelDTO {
        let credentials = try credentialsToSeal(input.credentials)
        let scope = self.scope, tenant = self.tenant, cipher = self.cipher, service = self
        let record = try await store.write { db in
            let record = try await scope.find(ChannelRecord.self, id, on: db)
            if let rawType = input.type, try Check.oneOf(rawType, "type", as: CallChannel.self) != record.type {
                throw AppError.badRequest("type cannot change; create a new channel instead")
            }
            if let rawName = input.name {
                record.name = try Check.text(rawName, "name", length: 1...120)
                try await Self.ensureNameIsFree(record.name, except: id, scope: scope, on: db)
            }
            if let status = input.status { record.status = try Check.oneOf(status, "status", as: ActiveStatus.self) }
            if let config = input.config {
                record.config = JSONValue.object(try ChannelConfigSchema.validate(config, for: record.type)).canonicalText
            }
            (record.teamId, record.sector) = try await service.routeTarget(input, current: (record.teamId, record.sector))
            let config = try JSONValue(canonicalText: record.config).objectValue ?? [:]
            var kept: [String: String]? = nil
            if input.credentials == .keep, let sealed = record.credentialsSealed, ChannelConfigSchema.isTwilio(config, type: record.type) {
                kept = try? cipher.open(sealed, clientId: tenant.clientId, channelId: id)
                if kept == nil { throw AppError.badRequest("the stored credentials cannot be read; give new ones") }
            }
            try service.checkTwilio(type: record.type, config: config, status: record.status,
                                    route: (record.teamId, record.sector), credentials: credentials ?? kept)
            switch input.credentials {
            case .keep: break
            case .remove: record.credentialsSealed = nil
            case .replace:
                record.credentialsSealed = try cipher.seal(credentials!, clientId: tenant.clientId, channelId: id)
            }
            try await record.save(on: db)
            try await AuditLog.record("channel.update", "channel", id: id, by: tenant, on: db)
            if input.credentials != .keep {
                try await AuditLog.record("channel.credentials_changed", "channel", id: id, by: tenant, on: db)
            }
            return record
        }
        return try ChannelDTO(record, publicURL: publicURL)
    }

    func delete(_ id: UUID) async throws {
        let scope = self.scope, tenant = self.tenant
        try await store.write { db in
            let record = try await scope.find(ChannelRecord.self, id, on: db)
            try await record.delete(on: db)
            try await AuditLog.record("channel.delete", "channel", id: id, by: tenant, on: db)
        }
    }

    /// The channel's recent webhook requests (a Twilio channel's), newest first.
    func requests(of id: UUID, limit: Int) async throws -> [ChannelRequestLog.Entry] {
        _ = try await scope.find(ChannelRecord.self, id, on: store.db)
        return try await ChannelRequestLog.recent(of: id, scope: scope, limit: limit, on: store.sql)
    }

    /// Checks the configuration and that the stored credentials are present and decrypt. Makes no outside call.
    func test(_ id: UUID) async throws -> ChannelTestDTO {
        let record = try await scope.find(ChannelRecord.self, id, on: store.db)
        var checks: [ChannelTestDTO.Check] = []
        do {
            let config = try JSONValue(canonicalText: record.config).objectValue ?? [:]
            _ = try ChannelConfigSchema.validate(config, for: record.type)
            checks.append(.init(check: "config", ok: true, detail: "the \(record.type.rawValue) configuration is complete"))
        } catch let error as AppError {
            checks.append(.init(check: "config", ok: false, detail: error.message))
        }
        let required = ChannelConfigSchema.requiredCredentials(
            for: record.type, config: (try? JSONValue(canonicalText: record.config).objectValue) ?? [:])
        if let sealed = record.credentialsSealed {
            do {
                let credentials = try cipher.open(sealed, clientId: tenant.clientId, channelId: id)
                checks.append(.init(check: "credentials_decrypt", ok: true, detail: "the stored credentials decrypt"))
                let missing = required.filter { credentials[$0] == nil }
                checks.append(.init(check: "credentials_complete", ok: missing.isEmpty,
                                    detail: missing.isEmpty ? "every required credential is present"
                                        : "missing: \(missing.joined(separator: ", "))"))
            } catch {
                checks.append(.init(check: "credentials_decrypt", ok: false,
                                    detail: "the stored credentials cannot be decrypted (wrong key, or the data was altered or moved)"))
            }
        } else {
            checks.append(.init(check: "credentials_complete", ok: required.isEmpty,
                                detail: required.isEmpty ? "this channel type needs no credentials"
                                    : "no credentials stored; needed: \(required.joined(separator: ", "))"))
        }
        return ChannelTestDTO(
            channelId: id, ok: checks.allSatisfy(\.ok), checks: checks, networkCallMade: false,
            note: "checked locally; no call was made to the provider"
        )
    }

    /// The team or sector a channel's calls route to after `input`: setting one clears the other; a team must be
    /// one of the tenant's.
    fileprivate func routeTarget(_ input: ChannelInput, current: (UUID?, String?)) async throws -> (UUID?, String?) {
        var (teamId, sector) = current
        switch (input.teamId, input.sector) {
        case (.set, .set): throw AppError.badRequest("give team_id or sector, not both")
        case (.set(let team), _):
            guard try await scope.query(Team.self, on: store.db).filter(\.$id == team).count() > 0 else {
                throw AppError.badRequest("team_id names no team of this tenant")
            }
            (teamId, sector) = (team, nil)
        case (_, .set(let name)):
            (teamId, sector) = (nil, try Check.text(name, "sector", length: TeamLimits.sector).lowercased())
        default: break
        }
        if case .cleared = input.teamId { teamId = nil }
        if case .cleared = input.sector { sector = nil }
        return (teamId, sector)
    }

    /// A Twilio channel routes to exactly one team or sector, takes exactly its account SID and auth token, and
    /// is active only where `SWITCHBOARD_PUBLIC_URL` says where Twilio reaches it.
    fileprivate func checkTwilio(type: CallChannel, config: [String: JSONValue], status: ActiveStatus,
                                 route: (UUID?, String?), credentials: [String: String]?) throws {
        guard ChannelConfigSchema.isTwilio(config, type: type) else { return }
        guard (route.0 == nil) != (route.1 == nil) else {
            throw AppError.badRequest("a Twilio channel needs team_id or sector (exactly one): where its calls route")
        }
        if let credentials { _ = try TwilioCredentials(validating: credentials) }
        if status == .active && publicURL == nil {
            throw AppError.badRequest("an active Twilio channel needs SWITCHBOARD_PUBLIC_URL, the address Twilio reaches "
                + "this service at (its webhooks are signed over it); set it and restart, or create the channel inactive")
        }
    }

    private func credentialsToSeal(_ change: ChannelInput.CredentialsChange) throws -> [String: String]? {
        guard case .replace(let raw) = change else { return nil }
        return try ChannelConfigSchema.validateCredentials(raw)
    }

    private static func ensureNameIsFree(_ name: String, except id: UUID?, scope: TenantScope, on db: any Database) async throws {
        var query = scope.query(ChannelRecord.self, on: db).filter(\.$name == name)
        if let id { query = query.filter(\.$id != id) }
        if try await query.count() > 0 { throw AppError.conflict("a channel named '\(name)' already exists") }
    }
}
