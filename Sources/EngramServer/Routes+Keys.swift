import EngramCore
import EngramWire
import Foundation
import Hummingbird

/// The caller's tenant's API keys (admin scope). A key can never name another tenant.
extension EngramServer {
    func addKeyRoutes(_ v1: Routes) {
        v1.get("keys") { _, c in try Reply.json(try await self.stores.keys.keys(tenant: try c.tenant(.admin)).map(Wire.Key.init)) }
        v1.post("keys") { r, c in try await self.createKey(r, c) }
        v1.delete("keys/:key") { _, c in try Reply.json(Wire.Key(try await self.stores.keys.revokeKey(id: try c.path("key"), tenant: try c.tenant(.admin), at: Date()))) }
    }

    func createKey(_ r: Request, _ c: EngramRequestContext) async throws -> Response {
        let tenant = try c.tenant(.admin)
        let body = try await r.decode(Wire.CreateKeyRequest.self, limit: configuration.maxBodyBytes)
        let scopes = try APIScope.parse(list: (body.scopes ?? ["read", "write"]).joined(separator: ","))
        let (key, secret) = try await APIKeys.create(tenant: tenant, name: body.name, scopes: scopes, in: stores.keys)
        return try Reply.json(Wire.CreatedKey(key, secret: secret), status: .created)
    }
}
