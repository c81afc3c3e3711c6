"""Trust and safety: NSFW moderation cases, held images, reports, trust scores."""
