"""Helpers shared by the suite (the pytest fixtures stay in tests/conftest.py):

- processes: REPO, Proc (a child process with its log), start_api, Worker (the stream worker)
- waiting: wait_for (poll a condition), equals
- factories: register, signup, user, uid, create_post, likes, admin_user, make_admin_job, report
- client: gql, code, code_of (GraphQL calls and error codes of answers)
- realtime: subscribed, next_message (websockets and their Redis channels)
- broker: collect (read a topic from the start)
- uploads: tus_upload, vid, status (Tus uploads and video status)
- videos: make_video, FFMPEG (small generated clips)
- stubs: WhatsAppStub, SinchStub, new_phone, ips (local OTP / flash call providers)
- wallet: fund, make_admin, verify_phone, wallet, key, tip
"""
