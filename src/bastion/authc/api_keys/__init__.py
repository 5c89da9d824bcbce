"""API keys, as Elasticsearch 8 offers them: `Authorization: ApiKey <base64(id:secret)>`.

`model` holds the stored document and its JSON views, `hashing` the slow hash of the secret,
`service` creation, authentication (with the credential cache of verified keys), lookup,
invalidation, update and the background removal of old keys, and `query` the translation of the
query API's language onto the stored documents.
"""
