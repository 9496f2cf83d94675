import FluentKit

/// Every migration, in the order it runs. A landed migration is never edited; add a new one.
enum SwitchboardMigrations {
    static let all: [any Migration] = [
        CreateTeams(),
        CreateSectorAgents(),
        CreateTeamMembers(),
        CreateTeamAgentAssignments(),
        CreateDailyMetrics(),
        CreateAuditLog(),
        CreateCalls(),
        CreateRoutingDecisions(),
        CreateSettings(),
        CreateAggregatorState(),
        CreateChannels(),
        AddAuditOccurrences(),
        AddCallRollupMark(),
        AddCallsCreatedIndex(),
        AddServiceLevelFigures(),
        AddAgentExternalId(),
        AddChannelCapacity(),
        AddRequiredCapabilities(),
        AddDecisionStep(),
        CreateEventOutbox(),
        CreateWebhooks(),
        AddAgentPresence(),
        AddWrapUp(),
        AddOffers(),
        AddLastCallEnded(),
        AddWrapUpToDailyRows(),
        AddCallPriority(),
        AddCallback(),
        AddQueuedSectorIndex(),
        AddPreferredAgent(),
        AddSkillLevels(),
        AddUncountedIndex(),
    ]
}
