"""Videos (states, transitions, playback links) and their resumable uploads."""
