extension RowLevelSecurity {
    static let policyShape = MappingShape(
        "One policy on the table.",
        [
            FieldShape("name", .nonEmptyText, required: true, "The policy's name, unique on its table."),
            FieldShape("command", .word(Command.self), "The command it applies to: all (the default), select, insert, update or delete."),
            FieldShape("as", .word(Mode.self), "permissive (the default) or restrictive."),
            FieldShape("roles", .stringList(minItems: 1), required: true, "The roles it applies to, or [PUBLIC] for every role."),
            FieldShape("using", .nonEmptyText, "The USING expression: which existing rows are visible (not on insert policies)."),
            FieldShape("withCheck", .nonEmptyText, "The WITH CHECK expression: which new rows are allowed (all, insert and update policies)."),
        ])

    /// A RowLevelSecurity manifest's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "Row-level security on one table: enabled, forced, and its policies.",
        [
            FieldShape("enabled", .boolean, "Whether row-level security is enabled (true when left out)."),
            FieldShape("forced", .boolean, "Whether the policies bind the table's owner too (false when left out)."),
            FieldShape("searchPath", .stringList(), required: true, "The schemas the expressions are written for, such as [public]."),
            FieldShape("policies", .list(.mapping(policyShape), ListRules(allowsNull: true)), "The table's policies; any other policy is dropped."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "row-level-security", title: "Guardrail RowLevelSecurity",
        description: "Row-level security on one table (policies/): whether it is enabled and forced, and every policy it has.",
        root: .document(name: .nonEmpty, nameDescription: "The table, qualified by its schema: public.properties.", spec: specShape))
}
