"""OAuth2-style access and refresh tokens (`/_security/oauth2/token`) and the Bearer scheme."""
