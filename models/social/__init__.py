"""The social graph: follows, blocks, mutes, circles, and the user look-ups they share."""
