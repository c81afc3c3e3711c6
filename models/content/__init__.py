"""Posts and what people do to them: remixes, comments, reactions, views, feedback, and who may see a post."""
