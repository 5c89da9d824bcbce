"""TLS material: certificate authorities, certificates, keys and keystores (`pki`)."""
