extension RoleGrants {
    static let grantShape = MappingShape(
        "Privileges on named tables, or on every table a schema holds when the plan is made.",
        [
            FieldShape("tables", .stringList(), "Qualified table names, such as public.properties."),
            FieldShape("schemas", .stringList(), "Schemas: every table in them, as of each plan."),
            FieldShape(
                "privileges", .list(.word(Privilege.self), ListRules(minItems: 1, uniqueItems: true)), required: true,
                "The privileges: select, insert, update, delete."),
        ], rules: MappingShape.exactlyOne(of: ["tables", "schemas"]))

    /// A RoleGrants manifest's keys: the decoder's `allowed:` and `guardrail schema`'s properties.
    static let specShape = MappingShape(
        "A database role and its table privileges.",
        [
            FieldShape("login", .boolean, "Whether a role Guardrail creates can log in (false when left out: NOLOGIN)."),
            FieldShape(
                "grants", .list(.mapping(grantShape), ListRules(allowsNull: true)),
                "The role's SELECT/INSERT/UPDATE/DELETE privileges on tables; others it has are revoked."),
        ])

    public static let shape = KindShape(
        kind: kind, fileName: "role-grants", title: "Guardrail RoleGrants",
        description: "A database role and its table privileges (policies/), one manifest per role.",
        root: .document(name: .nonEmpty, nameDescription: "The role's name.", spec: specShape))
}
