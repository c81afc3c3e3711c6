"""Videos (states, transitions, playback links) and their resumable uploads; images (processing,
storage, links) and the profile's avatar and cover."""
