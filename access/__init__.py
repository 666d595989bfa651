"""Access: enrolment codes, device tokens, expiry and revocation."""
