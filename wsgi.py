from payments import create_app

app = create_app()
